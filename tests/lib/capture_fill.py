#!/usr/bin/python3
"""tests/lib/capture_fill.py - senders that keep posting to a hubcap-receiver while its capture
disk fills, and a reader that checks the capture files against what was acknowledged.

  capture_fill.py send --url URL --stop-file F --acked FILE [--mode p0|spread] [--threads N]
                       [--count N]
      Until F exists (or N batches), each thread POSTs batches of events with new unique ids (never the same
      id twice, also after a 503: an id in the capture at most once is then a real check):
        p0      5 events to /events/partitions/0/messages
        spread  50 events with 200 partition keys to /events/messages (all 4 partitions)
      The ids of every batch answered 201 are appended to FILE. Prints one JSON line: the count
      of each status (and "neterr" for a connection error, e.g. while the receiver is killed).

  capture_fill.py check DIR --acked FILE... [--allow-tmp]
      Reads every DIR/**/*.avro with python3-avro: per partition the SequenceNumbers run from 0
      with no gap and no repeat and the offsets add up, every event id (in the body) is there
      once at most, and every acknowledged id is there exactly once. Prints one JSON line; exits 1 (saying
      why) otherwise.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import uuid

SCHEMA_NAME = "Microsoft.ServiceBus.Messaging.EventData"
BATCH = "application/vnd.microsoft.servicebus.json"


def token(key_name, key, host, hub):
    import base64
    import hashlib
    import hmac
    import urllib.parse
    uri = urllib.parse.quote_plus(("http://%s/%s" % (host, hub)).lower())
    se = str(int(time.time()) + 3600)
    sig = base64.b64encode(hmac.new(key.encode(), (uri + "\n" + se).encode(),
                                    hashlib.sha256).digest()).decode()
    return "SharedAccessSignature sr=%s&sig=%s&se=%s&skn=%s" % (
        uri, urllib.parse.quote_plus(sig), se, key_name)


def batch(n, keys, rnd):
    ids, items = [], []
    for _ in range(n):
        eid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        body = json.dumps({"event_id": eid, "kind": "order_line", "n": rnd.randrange(10**6),
                           "text": " ".join(rnd.choice(("lorem", "ipsum", "dolor", "sit", "amet",
                                                        "order", "parcel", "car"))
                                            for _ in range(30))})
        item = {"Body": body, "UserProperties": {"event_id": eid}}
        if keys:
            item["BrokerProperties"] = {"PartitionKey": rnd.choice(keys)}
        ids.append(eid)
        items.append(item)
    return ids, json.dumps(items, separators=(",", ":")).encode()


def sender(a, wid, state):
    rnd = random.Random("%s-%d-%d-%f" % (a.mode, wid, os.getpid(), time.time()))
    host, port = a.url.split("//")[1].split(":")
    port = int(port.rstrip("/"))
    auth = token(a.key_name, a.key, host, "events")
    if a.mode == "p0":
        path, n, keys = "/events/partitions/0/messages?api-version=2014-01", 5, None
    else:
        path, n, keys = "/events/messages?api-version=2014-01", 50, ["dev-%d" % k for k in range(200)]
    conn = None
    sent = 0
    while not os.path.exists(a.stop_file) and (not a.count or sent < a.count):
        sent += 1
        ids, body = batch(n, keys, rnd)
        status = "neterr"
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("POST", path, body=body, headers={"Authorization": auth,
                                                            "Content-Type": BATCH})
            r = conn.getresponse()
            r.read()
            status = str(r.status)
            if r.status == 503 and r.getheader("Retry-After") is None:
                status = "503-without-Retry-After"
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
        with state["lock"]:
            state["status"][status] = state["status"].get(status, 0) + 1
            if status == "201":
                state["acked"].write("".join(i + "\n" for i in ids))
                state["acked"].flush()
        if status != "201":
            time.sleep(0.02)
    if conn is not None:
        conn.close()


def cmd_send(a):
    state = {"lock": threading.Lock(), "status": {}, "acked": open(a.acked, "a")}
    threads = [threading.Thread(target=sender, args=(a, w, state)) for w in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state["acked"].close()
    print(json.dumps(state["status"]))


def cmd_check(a):
    import avro.datafile
    import avro.io
    parts, seen, tmp, other = {}, {}, [], []
    files = []
    for root, dirs, names in os.walk(a.dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .index: the partition logs' index
        for f in names:
            p = os.path.join(root, f)
            if f.endswith(".avro"):
                files.append(p)
            elif f.endswith(".avro.tmp"):
                tmp.append(p)
            elif not f.startswith("."):
                other.append(p)
    if tmp and not a.allow_tmp:
        sys.exit("check: temporary files left after a clean stop: %s" % tmp[:3])
    if other:
        sys.exit("check: files set aside or left over: %s" % other[:5])
    events = 0
    for path in sorted(files):
        rel = os.path.relpath(path, a.dir).split(os.sep)
        pid = int(rel[-7])  # {ns}/{hub}/{pid}/YYYY/MM/DD/hh/mm/ss.avro
        with open(path, "rb") as f:
            r = avro.datafile.DataFileReader(f, avro.io.DatumReader())
            if r.datum_reader.writers_schema.fullname != SCHEMA_NAME:
                sys.exit("check: %s: not the Capture schema" % path)
            recs = list(r)
        p = parts.setdefault(pid, {"next": 0, "offset": 0})
        for rec in recs:
            if rec["SequenceNumber"] != p["next"]:
                sys.exit("check: %s: partition %d: SequenceNumber %d after %d (a gap or a "
                         "repeat)" % (path, pid, rec["SequenceNumber"], p["next"] - 1))
            if rec["Offset"] != str(p["offset"]):
                sys.exit("check: %s: Offset %s, expected %d" % (path, rec["Offset"], p["offset"]))
            p["next"] += 1
            p["offset"] += len(rec["Body"] or b"")
            eid = json.loads(rec["Body"])["event_id"]  # the id in the body ...
            if rec["Properties"].get("event_id") != eid:  # ... and the same in the properties
                sys.exit("check: %s: body and properties name different events" % path)
            if eid in seen:
                sys.exit("check: event %s is in the capture twice (%s and %s)" % (
                    eid, seen[eid], path))
            seen[eid] = path
            events += 1
    acked = set()
    for fn in a.acked:
        if os.path.exists(fn):
            acked.update(l.strip() for l in open(fn) if l.strip())
    missing = [i for i in acked if i not in seen]
    if missing:
        sys.exit("check: %d of %d acknowledged events are not in the capture (e.g. %s)" % (
            len(missing), len(acked), missing[:3]))
    print(json.dumps({"files": len(files), "events": events, "acked": len(acked),
                      "unacked_on_disk": events - len(acked), "tmp": len(tmp),
                      "partitions": {str(k): v["next"] for k, v in sorted(parts.items())}}))


def main():
    ap = argparse.ArgumentParser(prog="capture_fill.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--url", required=True)
    s.add_argument("--stop-file", required=True)
    s.add_argument("--acked", required=True)
    s.add_argument("--mode", choices=("p0", "spread"), default="p0")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--count", type=int, default=0, help="at most this many batches per thread")
    s.add_argument("--key-name", default="RootManageSharedAccessKey")
    s.add_argument("--key", default=os.environ.get("HUBCAP_DEV_KEY", "SAS_KEY_VALUE"))
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("--acked", nargs="+", default=[])
    c.add_argument("--allow-tmp", action="store_true")
    a = ap.parse_args()
    cmd_send(a) if a.cmd == "send" else cmd_check(a)


if __name__ == "__main__":
    main()
