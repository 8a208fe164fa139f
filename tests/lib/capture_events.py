#!/usr/bin/python3
"""tests/lib/capture_events.py - what the receiver captured, event by event, for shipping tests.

    capture_events.py CAPTURE_DIR [--ns hubcap] [--hub events] > events.jsonl

Reads every closed capture file (capture_read.py: Debian's python3-avro, not the writer) under
CAPTURE_DIR/NS/HUB and prints one JSON object per event, in (partition, sequence) order:
{"partition": 2, "seq": 17, "event_id": "…", "pkey": "pi-01", "props": {…}, "body": "…"}
(pkey: the x-opt-partition-key system property, null when absent).
"""
from capture_read import run


def event(partition, path, rec, capture_dir):
    props = {k: (v.decode("latin-1") if isinstance(v, bytes) else v)
             for k, v in rec["Properties"].items()}
    return {"partition": partition, "seq": rec["SequenceNumber"],
            "event_id": props.get("event_id"),
            "pkey": rec["SystemProperties"].get("x-opt-partition-key"),
            "props": props, "body": (rec["Body"] or b"").decode()}


if __name__ == "__main__":
    run(event)
