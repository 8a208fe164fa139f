#!/usr/bin/python3
"""rxtool.py - talk to hubcap-receiver the way Event Hubs clients do, and check its capture files.

Used by the receiver's integration tests and its benchmark; standard library plus Debian's
python3-avro (an Avro reader independent of the libavro writer).

  rxtool.py token URI KEY_NAME KEY [--ttl S] [--expiry UNIX_S]
  rxtool.py send --url http://127.0.0.1:PORT [--hub events] [--count N] [--batch B] ...
  rxtool.py check CAPTURE_DIR [--ns hubcap] [--hub events] [--ids FILE] [--no-tmp]
  rxtool.py wrk-body DIR [--bodies 64] [--events N] [--size BYTES]   (batch bodies for wrk)
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid

CAPTURE_SCHEMA = {
    "type": "record", "name": "EventData", "namespace": "Microsoft.ServiceBus.Messaging",
    "fields": [
        {"name": "SequenceNumber", "type": "long"},
        {"name": "Offset", "type": "string"},
        {"name": "EnqueuedTimeUtc", "type": "string"},
        {"name": "SystemProperties", "type": {"type": "map", "values": ["long", "double", "string", "bytes"]}},
        {"name": "Properties", "type": {"type": "map", "values": ["long", "double", "string", "bytes"]}},
        {"name": "Body", "type": ["null", "bytes"]},
    ],
}
BATCH_TYPE = "application/vnd.microsoft.servicebus.json"


def sas_token(uri, key_name, key, expiry):
    """The token Azure documents (common/sas.h): HMAC over quote_plus(lower(uri)) + '\\n' + se."""
    enc = urllib.parse.quote_plus(uri.lower())
    sig = base64.b64encode(hmac.new(key.encode(), f"{enc}\n{expiry}".encode(), hashlib.sha256).digest())
    return "SharedAccessSignature sr=%s&sig=%s&se=%d&skn=%s" % (
        enc, urllib.parse.quote_plus(sig), expiry, urllib.parse.quote_plus(key_name))


WORDS = ("WHITE HANGING HEART T-LIGHT HOLDER METAL LANTERN CREAM CUPID HEARTS COAT HANGER "
         "KNITTED UNION FLAG HOT WATER BOTTLE RED WOOLLY HOTTIE SET OF 7 BABUSHKA NESTING BOXES "
         "GLASS STAR FROSTED LIGHT HAND WARMER BIRD DESIGN POPPY'S PLAYHOUSE BEDROOM KITCHEN "
         "ALARM CLOCK BAKELIKE PINK GREEN IVORY PAPER CHAIN KIT 50'S CHRISTMAS").split()


def envelope(seq, device, size, rnd=random):
    """An agent-like event envelope of about size bytes (varied text, as real orders are)."""
    eid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    ev = {"event_id": eid, "device_id": device, "kind": "order_line", "schema": 1,
          "event_time": "2026-11-22T%02d:%02d:%02d.%03dZ" % (rnd.randrange(24), rnd.randrange(60),
                                                             rnd.randrange(60), rnd.randrange(1000)),
          "data": {"invoice_no": str(536365 + rnd.randrange(100000)),
                   "stock_code": "%05d%s" % (rnd.randrange(100000), rnd.choice("ABCDEFG ")),
                   "description": "", "quantity": rnd.randrange(-5, 48),
                   "unit_price": round(rnd.uniform(0.1, 50), 2),
                   "customer_id": rnd.randrange(12000, 18000), "country": rnd.choice(
                       ("United Kingdom", "France", "Germany", "EIRE", "Spain", "Netherlands"))}}
    pad = size - len(json.dumps(ev, separators=(",", ":")))
    words = []
    while sum(len(w) + 1 for w in words) < pad:
        words.append(rnd.choice(WORDS))
    ev["data"]["description"] = " ".join(words)[:max(pad, 0)]
    return eid, json.dumps(ev, separators=(",", ":"))


def batch_item(eid, device, body):
    return {"Body": body, "UserProperties": {"event_id": eid, "device_id": device,
                                             "kind": "order_line", "schema": 1},
            "BrokerProperties": {"PartitionKey": device}}


def cmd_token(a):
    expiry = a.expiry if a.expiry is not None else int(time.time()) + a.ttl
    print(sas_token(a.uri, a.key_name, a.key, expiry))


class Sender:
    """One keep-alive connection; send() returns (status, body) or raises on a network error."""

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.timeout = timeout
        self.conn = None

    def send(self, path, body, headers):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return r.status, data
        except Exception:
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def send_worker(a, wid, state):
    rnd = random.Random(a.seed * 1000 + wid)
    s = Sender(a.url)
    devices = ["pi-%04d" % (wid * 1000 + d) for d in range(a.devices)]
    uri = "http://%s/%s" % (urllib.parse.urlparse(a.url).hostname, a.hub)
    token = sas_token(uri, a.key_name, a.key, int(time.time()) + 3600)
    seq = 0
    while True:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        with state["lock"]:
            if state["left"] <= 0 or (a.duration and time.time() > state["deadline"]):
                break
            n = min(a.batch, state["left"])
            state["left"] -= n
        ids, items = [], []
        for _ in range(n):
            dev = rnd.choice(devices)
            eid, body = envelope(seq, dev, a.size, rnd)
            seq += 1
            ids.append(eid)
            items.append(batch_item(eid, dev, body))
        payload = json.dumps(items, separators=(",", ":")).encode()
        headers = {"Authorization": token, "Content-Type": BATCH_TYPE}
        while True:  # at least once: the same batch again until it is acknowledged
            try:
                status, _ = s.send("/%s/messages?timeout=60&api-version=2014-01" % a.hub,
                                   payload, headers)
            except Exception:
                status = None
            if status == 201:
                with state["lock"]:
                    state["acked"] += n
                    if state["log"]:
                        state["log"].write("".join(i + "\n" for i in ids))
                        state["log"].flush()
                break
            with state["lock"]:
                state["errors"][str(status)] = state["errors"].get(str(status), 0) + 1
            if status is not None and status not in (500, 503):
                sys.exit("send: status %s" % status)
            if a.duration and time.time() > state["deadline"] + a.grace:
                return
            if a.stop_file and os.path.exists(a.stop_file) and time.time() > state.setdefault(
                    "stop_at_%d" % wid, time.time() + a.grace):
                return
            time.sleep(0.05)
    s.close()


def cmd_send(a):
    state = {"lock": threading.Lock(), "left": a.count, "acked": 0, "errors": {},
             "deadline": time.time() + (a.duration or 0),
             "log": open(a.ack_log, "a") if a.ack_log else None}
    if a.duration:
        state["left"] = 1 << 62
    threads = [threading.Thread(target=send_worker, args=(a, w, state)) for w in range(a.threads)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"acked": state["acked"], "errors": state["errors"],
                      "seconds": round(time.time() - t0, 3)}))


AZURE_TIME = re.compile(r"^(1[0-2]|[1-9])/([1-9]|[12][0-9]|3[01])/\d{4} (1[0-2]|[1-9]):[0-5]\d:[0-5]\d [AP]M$")


def capture_files(top):
    out, tmp = [], []
    for root, _, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            if f.endswith(".avro"):
                out.append(p)
            elif f.endswith(".avro.tmp"):
                tmp.append(p)
    return sorted(out), sorted(tmp)


def cmd_check(a):
    """Every file: Capture schema, Azure layout; per partition: contiguous sequence numbers from
    0, offsets that add up; print a JSON summary (and check --ids: all of them captured)."""
    import avro.datafile
    import avro.io
    import avro.schema
    want = avro.schema.parse(json.dumps(CAPTURE_SCHEMA))
    files, tmp = capture_files(os.path.join(a.dir, a.ns, a.hub))
    if a.no_tmp and tmp:
        sys.exit("check: temporary files left: %s" % tmp[:3])
    layout = re.compile(r"/%s/%s/(\d+)/(\d{4})/(\d{2})/(\d{2})/(\d{2})/(\d{2})/(\d{2})\.avro$" % (
        re.escape(a.ns), re.escape(a.hub)))
    parts, ids, total, codecs, dup = {}, set(), 0, set(), 0
    for path in files:
        m = layout.search(path)
        if not m:
            sys.exit("check: %s is not {ns}/{hub}/{partition}/YYYY/MM/DD/hh/mm/ss.avro" % path)
        pid = int(m.group(1))
        with open(path, "rb") as f:
            r = avro.datafile.DataFileReader(f, avro.io.DatumReader())
            if r.datum_reader.writers_schema != want:
                sys.exit("check: %s: schema %s is not the Capture schema" % (path, r.datum_reader.writers_schema))
            codecs.add(r.meta.get("avro.codec", b"null").decode())
            recs = list(r)
        p = parts.setdefault(pid, {"next": 0, "offset": 0, "events": 0, "files": 0})
        p["files"] += 1
        for rec in recs:
            if rec["SequenceNumber"] != p["next"]:
                sys.exit("check: %s: SequenceNumber %d, expected %d" % (path, rec["SequenceNumber"], p["next"]))
            if rec["Offset"] != str(p["offset"]):
                sys.exit("check: %s: Offset %s, expected %d" % (path, rec["Offset"], p["offset"]))
            if not AZURE_TIME.match(rec["EnqueuedTimeUtc"]):
                sys.exit("check: %s: EnqueuedTimeUtc %r is not M/d/yyyy h:mm:ss AM" % (path, rec["EnqueuedTimeUtc"]))
            if "x-opt-enqueued-time" not in rec["SystemProperties"]:
                sys.exit("check: %s: no x-opt-enqueued-time" % path)
            body = rec["Body"] or b""
            p["next"] += 1
            p["offset"] += len(body)
            p["events"] += 1
            total += 1
            eid = rec["Properties"].get("event_id")
            if eid is not None:
                if eid in ids:
                    dup += 1
                ids.add(eid)
    if a.ids:
        want_ids = [l.strip() for l in open(a.ids) if l.strip()]
        missing = [i for i in want_ids if i not in ids]
        if missing:
            sys.exit("check: %d acknowledged events are not in any capture file (e.g. %s)" % (len(missing), missing[:3]))
    print(json.dumps({"files": len(files), "events": total, "unique_ids": len(ids), "duplicates": dup,
                      "codecs": sorted(codecs), "tmp": len(tmp),
                      "partitions": {str(k): v["events"] for k, v in sorted(parts.items())}}))


def cmd_wrk_body(a):
    """--bodies files DIR/body-N.json, each a batch of --events different events."""
    rnd = random.Random(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    for n in range(a.bodies):
        items = []
        for i in range(a.events):
            dev = "pi-%04d" % rnd.randrange(1000)
            eid, body = envelope(i, dev, a.size, rnd)
            items.append(batch_item(eid, dev, body))
        with open(os.path.join(a.dir, "body-%d.json" % n), "w") as f:
            f.write(json.dumps(items, separators=(",", ":")))


def main():
    ap = argparse.ArgumentParser(prog="rxtool.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("token")
    t.add_argument("uri")
    t.add_argument("key_name")
    t.add_argument("key")
    t.add_argument("--ttl", type=int, default=3600)
    t.add_argument("--expiry", type=int)
    s = sub.add_parser("send")
    s.add_argument("--url", required=True)
    s.add_argument("--hub", default="events")
    s.add_argument("--key-name", default="RootManageSharedAccessKey")
    s.add_argument("--key", default=os.environ.get("HUBCAP_DEV_KEY", "SAS_KEY_VALUE"))
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--batch", type=int, default=50)
    s.add_argument("--size", type=int, default=300)
    s.add_argument("--threads", type=int, default=4)
    s.add_argument("--devices", type=int, default=20)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--duration", type=float, default=0, help="send for this long instead of --count")
    s.add_argument("--grace", type=float, default=5, help="with --duration: give up retrying after this")
    s.add_argument("--ack-log", help="append the event_id of every acknowledged event")
    s.add_argument("--stop-file", help="stop (after the batch in flight) once this file exists")
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("--ns", default="hubcap")
    c.add_argument("--hub", default="events")
    c.add_argument("--ids")
    c.add_argument("--no-tmp", action="store_true")
    w = sub.add_parser("wrk-body")
    w.add_argument("dir")
    w.add_argument("--bodies", type=int, default=64)
    w.add_argument("--events", type=int, default=100)
    w.add_argument("--size", type=int, default=300)
    w.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    {"token": cmd_token, "send": cmd_send, "check": cmd_check, "wrk-body": cmd_wrk_body}[a.cmd](a)


if __name__ == "__main__":
    main()
