"""tests/lib/capture_read.py - the records of the receiver's closed capture files, read with
Debian's python3-avro (independent of the writer), for capture_events.py and capture_typed.py.

    run(convert): parse CAPTURE_DIR [--ns hubcap] [--hub events] from the command line, call
    convert(partition, path, record, capture_dir) for every record of every *.avro file under
    CAPTURE_DIR/NS/HUB, and print the dicts it returns as JSON lines in (partition, seq) order
    (each dict must hold "partition" and "seq").
"""
import argparse
import json
import os
import re
import sys

import avro.datafile
import avro.io


def records(capture_dir, ns, hub):
    """(partition, path, record) for every record of the capture files of NS/HUB."""
    root = os.path.join(capture_dir, ns, hub)
    for base, _, names in os.walk(root):
        for n in names:
            if not n.endswith(".avro"):
                continue
            path = os.path.join(base, n)
            m = re.search(r"/%s/(\d+)/" % re.escape(hub), path)
            with open(path, "rb") as f:
                for rec in avro.datafile.DataFileReader(f, avro.io.DatumReader()):
                    yield int(m.group(1)), path, rec


def run(convert):
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--ns", default="hubcap")
    ap.add_argument("--hub", default="events")
    a = ap.parse_args()
    out = [convert(p, path, rec, a.dir) for p, path, rec in records(a.dir, a.ns, a.hub)]
    out.sort(key=lambda e: (e["partition"], e["seq"]))
    for e in out:
        sys.stdout.write(json.dumps(e, sort_keys=True) + "\n")
