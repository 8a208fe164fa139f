#!/usr/bin/python3
"""tests/lib/capture_typed.py - every captured event with the Avro type of each property, for the
tests that compare what one protocol captured with what another did.

    capture_typed.py CAPTURE_DIR [--ns hubcap] [--hub events] > events.jsonl

Reads every closed capture file (*.avro; capture_read.py: Debian's python3-avro, not the writer) under
CAPTURE_DIR/NS/HUB and prints one JSON object per event, in (partition, sequence) order:
  {"partition": 2, "seq": 17, "offset": "…", "enqueued": "12/3/2026 2:18:56 PM",
   "body_b64": "…", "props": {"n": ["long", 3], "bin": ["bytes", "<base64>"], …},
   "sys": {"x-opt-partition-key": ["string", "dev-1"], …}, "file": "relative/path.avro"}
The Avro union branch of a map value is told by the Python value: int → long, float → double,
str → string, bytes → bytes (python3-avro reads each branch to that Python type).
"""
import base64
import os

from capture_read import run


def typed(m):
    out = {}
    for k, v in (m or {}).items():
        if isinstance(v, bool):
            out[k] = ["boolean", v]
        elif isinstance(v, int):
            out[k] = ["long", v]
        elif isinstance(v, float):
            out[k] = ["double", v]
        elif isinstance(v, str):
            out[k] = ["string", v]
        elif isinstance(v, bytes):
            out[k] = ["bytes", base64.b64encode(v).decode()]
        elif v is None:
            out[k] = ["null", None]
        else:
            out[k] = [type(v).__name__, repr(v)]
    return out


def event(partition, path, rec, capture_dir):
    return {"partition": partition, "seq": rec["SequenceNumber"],
            "offset": rec["Offset"], "enqueued": rec["EnqueuedTimeUtc"],
            "body_b64": base64.b64encode(rec["Body"] or b"").decode(),
            "props": typed(rec["Properties"]),
            "sys": typed(rec["SystemProperties"]),
            "file": os.path.relpath(path, capture_dir)}


if __name__ == "__main__":
    run(event)
