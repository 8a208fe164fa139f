#!/usr/bin/python3
"""tests/lib/capture_events.py - what the receiver captured, event by event, for shipping tests.

    capture_events.py CAPTURE_DIR [--ns hubcap] [--hub events] > events.jsonl

Reads every closed capture file (Debian's python3-avro, independent of the writer) under
CAPTURE_DIR/NS/HUB and prints one JSON object per event, in (partition, sequence) order:
{"partition": 2, "seq": 17, "event_id": "…", "pkey": "pi-01", "props": {…}, "body": "…"}
(pkey: the x-opt-partition-key system property, null when absent).
"""
import argparse
import json
import os
import re
import sys

import avro.datafile
import avro.io


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--ns", default="hubcap")
    ap.add_argument("--hub", default="events")
    a = ap.parse_args()
    root = os.path.join(a.dir, a.ns, a.hub)
    out = []
    for base, _, names in os.walk(root):
        for n in names:
            if not n.endswith(".avro"):
                continue
            path = os.path.join(base, n)
            m = re.search(r"/%s/(\d+)/" % re.escape(a.hub), path)
            with open(path, "rb") as f:
                for rec in avro.datafile.DataFileReader(f, avro.io.DatumReader()):
                    props = {k: (v.decode("latin-1") if isinstance(v, bytes) else v)
                             for k, v in rec["Properties"].items()}
                    out.append({"partition": int(m.group(1)), "seq": rec["SequenceNumber"],
                                "event_id": props.get("event_id"),
                                "pkey": rec["SystemProperties"].get("x-opt-partition-key"),
                                "props": props, "body": (rec["Body"] or b"").decode()})
    out.sort(key=lambda e: (e["partition"], e["seq"]))
    for e in out:
        sys.stdout.write(json.dumps(e, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
