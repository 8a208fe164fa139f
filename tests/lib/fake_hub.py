#!/usr/bin/python3
"""fake_hub.py - a fault-injecting Azure Event Hubs REST endpoint for tests (standard library only).

Serves the Event Hubs send API on 127.0.0.1 over HTTP/1.1 with keep-alive (HTTPS with --tls-cert
and --tls-key):

    POST /{hub}/messages                       (batch or single event)
    POST /{hub}/partitions/{id}/messages
    POST /{hub}/publishers/{id}/messages
    GET  /_stats                               counters as JSON (requests, responses by kind,
                                               events_received, events_accepted,
                                               unique_accepted, duplicates_accepted,
                                               auth_failures, bad_props, connections, in_flight:
                                               requests not answered yet, plan, plan_pos, poison)
    POST /_control                             change the plan at run time (JSON body, below)

Each send is checked as Event Hubs would: the SAS token in Authorization is verified on its own
(HMAC-SHA256 over "{sr}\\n{se}" with --key, key name --key-name, expiry, and the audience: by
default exactly quote(lower("{http|https}://{host}/{hub}"), safe="") as the agent signs it, where
host is the Host header without its port; --loose-audience accepts any audience that covers the
resource, ignoring scheme and port, as the service does), the body must be a batch
(application/vnd.microsoft.servicebus.json: a JSON list of {"Body": str, "UserProperties": {...},
"BrokerProperties": {...}}) or, with another content type, a single event, and at most
--max-bytes long (else 413).

What each request gets is scripted by a plan: comma-separated entries, each used for one request
in order; the last entry repeats for ever. An entry is ACTION or ACTION*COUNT:

    201 (or ok)          process normally: 201, or 401/400/413/404 when the request is wrong
                         (bad token, malformed batch, too large, poison event, unknown hub)
    CODE[:k=v...]        answer CODE whatever the request (e.g. 429, 503, 500, 401, 413, 400);
                         options: retry-after=SECS (a Retry-After header), retry-after-ms=MS
    drop                 read the request, then close the connection without an answer
    reset                read the request, then reset the connection (RST)
    slow:SECS[:CODE]     sleep SECS, then answer as 201 (normal processing) or as CODE

e.g. --plan "201*5,429:retry-after=2,503,drop,slow:3,401,413,201". --plan-file FILE reads the plan
from FILE (entries separated by commas or newlines, '#' starts a comment) and reads it again, from
its first entry, whenever the file changes. POST /_control with {"plan": "..."} replaces the plan
(from its first entry); {"poison": ["s", ...]} replaces the poison rules; {"reset_stats": true}
zeroes the counters. The answer is /_stats.

--latency SECS delays every answer to a send (a slow link), so a test can catch a client
mid-way through a queue.

Rule mode: --poison SUBSTRING (repeatable) answers 400 to any batch holding an event whose Body
contains SUBSTRING, so a client must split the batch down to the poison event alone.

Records, one JSON object a line, flushed at once:
  --log FILE       per request: req (number), time, conn, path, plan (the entry used), response
                   ("201", "429", "drop", "reset", "slow:3/201", ...), status (int or null),
                   reason, auth ("ok" or why not), se, bytes, events, event_ids, props_error,
                   delivered (the answer was written without error)
  --accepted FILE  per event acknowledged with 201 (written before the answer is sent):
                   req, event_id, body

Check mode (after a test ran against the hub):
  fake_hub.py check --log FILE --accepted FILE [--expect FILE] [--dead FILE] [--allow-resend]
verifies that every expected event_id (--expect: JSON Lines envelopes or one id a line) was
accepted at least once, that no --dead event_id was accepted, that no event was accepted that was
not expected (with --expect), and (unless --allow-resend) that an event was sent again only after
a send that was not acknowledged: a request answered with a plain (not slow) 201 is the last one
that holds each of its events. Prints a JSON summary; exits 1 when a check fails.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse

BATCH_TYPE = "application/vnd.microsoft.servicebus.json"
STATUS_TEXT = {
    400: "The request was malformed.",
    401: "InvalidSignature: The token is invalid.",
    403: "Unauthorized access. 'Send' claim(s) are required to perform this operation.",
    404: "The messaging entity could not be found.",
    413: "The received message exceeds the limit.",
    429: "The request was terminated because the entity is being throttled.",
    500: "The server encountered an internal error.",
    503: "The server is busy. Please try again later.",
}


# ---- plan ------------------------------------------------------------------------------------

class PlanError(ValueError):
    pass


def parse_entry(text):
    """One plan entry (without its *COUNT) into a dict."""
    t = text.strip().lower()
    if t in ("201", "ok"):
        return {"kind": "ok", "text": "201"}
    if t in ("drop", "reset"):
        return {"kind": t, "text": t}
    parts = t.split(":")
    if parts[0] == "slow":
        if len(parts) not in (2, 3):
            raise PlanError(f"plan entry '{text}': want slow:SECS or slow:SECS:CODE")
        try:
            secs = float(parts[1])
        except ValueError:
            raise PlanError(f"plan entry '{text}': SECS is not a number") from None
        then = parse_entry(parts[2]) if len(parts) == 3 else {"kind": "ok", "text": "201"}
        if then["kind"] not in ("ok", "status"):
            raise PlanError(f"plan entry '{text}': slow can be followed by a status only")
        return {"kind": "slow", "secs": secs, "then": then, "text": t}
    try:
        code = int(parts[0])
    except ValueError:
        raise PlanError(f"plan entry '{text}': want 201, CODE[:k=v], drop, reset or "
                        "slow:SECS[:CODE]") from None
    if not 100 <= code <= 599:
        raise PlanError(f"plan entry '{text}': status out of range")
    if code == 201 and len(parts) == 1:
        return {"kind": "ok", "text": "201"}
    headers = []
    for opt in parts[1:]:
        k, eq, v = opt.partition("=")
        if not eq:
            raise PlanError(f"plan entry '{text}': option '{opt}' is not k=v")
        if k == "retry-after":
            headers.append(("Retry-After", v))
        elif k == "retry-after-ms":
            headers.append(("retry-after-ms", v))
        else:
            raise PlanError(f"plan entry '{text}': unknown option '{k}'")
    return {"kind": "status", "code": code, "headers": headers, "text": t}


def parse_plan(text):
    """A plan text into a list of entries (each COUNT times). Empty: always 201."""
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for item in line.split(","):
            item = item.strip()
            if not item:
                continue
            spec, star, count = item.rpartition("*")
            if not star:
                spec, count = item, "1"
            try:
                n = int(count)
            except ValueError:
                raise PlanError(f"plan entry '{item}': COUNT after '*' is not a number") from None
            if n < 1:
                raise PlanError(f"plan entry '{item}': COUNT must be at least 1")
            e = parse_entry(spec)
            entries.extend([e] * n)
    return entries or [parse_entry("201")]


# ---- SAS -------------------------------------------------------------------------------------

def sas_sign(key, sr_raw, se_raw):
    mac = hmac.new(key.encode(), (sr_raw + "\n" + se_raw).encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def make_token(uri, key_name, key, expiry):
    """A token as the agent makes it (for tests of this file)."""
    sr = urllib.parse.quote(uri.lower(), safe="")
    sig = sas_sign(key, sr, str(expiry))
    return (f"SharedAccessSignature sr={sr}&sig={urllib.parse.quote(sig, safe='')}"
            f"&se={expiry}&skn={urllib.parse.quote(key_name, safe='')}")


def strip_uri(u):
    """(host without port, path without trailing '/') of a URI, scheme ignored, lower case."""
    u = u.lower().split("?", 1)[0]
    if "://" in u:
        u = u.split("://", 1)[1]
    host, slash, path = u.partition("/")
    if host.startswith("["):
        host = host[:host.find("]") + 1]
    else:
        host = host.split(":", 1)[0]
    return host, ("/" + path).rstrip("/") if slash else ""


def verify_token(header, key_name, key, scheme, host, hub, resource, loose, now):
    """(None, se) when the token is good, else (reason, se)."""
    if not header:
        return "no Authorization header", None
    t = header.strip()
    if t.lower().startswith("sharedaccesssignature "):
        t = t[len("sharedaccesssignature "):].strip()
    prm = {}
    for part in t.split("&"):
        if not part:
            continue
        k, eq, v = part.partition("=")
        if not eq:
            return f"malformed token: '{part}' is not k=v", None
        k = k.strip().lower()
        if k in prm:
            return f"malformed token: {k} given twice", None
        prm[k] = v.strip()
    for k in ("sr", "sig", "se", "skn"):
        if not prm.get(k):
            return f"malformed token: no {k}", None
    if not prm["se"].isdigit():
        return "malformed token: se is not a number", None
    se = int(prm["se"])
    if urllib.parse.unquote(prm["skn"]) != key_name:
        return f"unknown key name '{urllib.parse.unquote(prm['skn'])}'", se
    want = sas_sign(key, prm["sr"], prm["se"])
    got = urllib.parse.unquote(prm["sig"])
    if not hmac.compare_digest(want.encode(), got.encode()):
        return "bad signature", se
    if se <= now:
        return f"token expired {now - se}s ago", se
    sr = urllib.parse.unquote(prm["sr"])
    if loose:
        ah, ap = strip_uri(sr)
        rh, rp = strip_uri(resource)
        if ah != rh or not (rp == ap or rp.startswith(ap + "/")):
            return f"audience '{sr}' does not cover '{resource}'", se
    else:
        aud = f"{scheme}://{host}/{hub}".lower()
        if sr != aud:
            return f"audience '{sr}', want '{aud}'", se
        if prm["sr"] != urllib.parse.quote(aud, safe=""):
            return f"sr '{prm['sr']}' is not encoded as quote(uri, safe='')", se
    return None, se


# ---- events ----------------------------------------------------------------------------------

def parse_events(ctype, body):
    """(events, error): events is a list of dicts {Body, UserProperties, BrokerProperties}."""
    if ctype.split(";")[0].strip().lower() == BATCH_TYPE:
        try:
            lst = json.loads(body)
        except ValueError as e:
            return [], f"batch is not JSON: {e}"
        if not isinstance(lst, list) or not lst:
            return [], "batch is not a non-empty JSON list"
        for i, ev in enumerate(lst):
            if not isinstance(ev, dict) or not isinstance(ev.get("Body"), str):
                return [], f"batch event {i} has no string Body"
            for k in ("UserProperties", "BrokerProperties"):
                if k in ev and not isinstance(ev[k], dict):
                    return [], f"batch event {i}: {k} is not an object"
        return lst, None
    try:
        text = body.decode()
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    return [{"Body": text, "UserProperties": {}, "BrokerProperties": {}}], None


def event_id_of(ev):
    up = ev.get("UserProperties") or {}
    if isinstance(up.get("event_id"), str):
        return up["event_id"]
    try:
        env = json.loads(ev.get("Body", ""))
        if isinstance(env, dict) and isinstance(env.get("event_id"), str):
            return env["event_id"]
    except ValueError:
        pass
    return None


def props_error(ev):
    """What is wrong with an agent's event properties, or None."""
    up = ev.get("UserProperties") or {}
    bp = ev.get("BrokerProperties") or {}
    try:
        env = json.loads(ev["Body"])
    except ValueError:
        return "Body is not JSON"
    if not isinstance(env, dict):
        return "Body is not a JSON object"
    for k in ("event_id", "device_id", "kind", "schema"):
        if k not in up:
            return f"UserProperties has no {k}"
        if up[k] != env.get(k):
            return f"UserProperties.{k}={up[k]!r} but the Body says {env.get(k)!r}"
    if bp.get("PartitionKey") != env.get("device_id"):
        return f"BrokerProperties.PartitionKey={bp.get('PartitionKey')!r} is not the device_id"
    return None


# ---- server ----------------------------------------------------------------------------------

class Hub:
    """The shared state: plan, rules, records, counters."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.plan_file_sig = None
        self.plan = parse_plan(args.plan or "201")
        self.plan_text = args.plan or "201"
        self.pos = 0
        self.poison = list(args.poison or [])
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None
        self.acc = open(args.accepted, "a", encoding="utf-8") if args.accepted else None
        self.reset_stats()
        if args.plan_file:
            self.reload_plan_file()

    def reset_stats(self):
        in_flight = self.stats["in_flight"] if hasattr(self, "stats") else 0
        self.stats = {"requests": 0, "responses": {}, "events_received": 0,
                      "events_accepted": 0, "duplicates_accepted": 0, "auth_failures": 0,
                      "bad_props": 0, "bytes": 0, "connections": 0,
                      "in_flight": in_flight}
        self.accepted_ids = set()

    def reload_plan_file(self):
        """Read the plan file again when it changed (caller holds the lock or is __init__)."""
        try:
            st = os.stat(self.args.plan_file)
        except OSError:
            return
        sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        if sig == self.plan_file_sig:
            return
        try:
            with open(self.args.plan_file, encoding="utf-8") as f:
                text = f.read()
            plan = parse_plan(text)
        except (OSError, PlanError) as e:
            print(f"fake_hub: plan file: {e}", file=sys.stderr)
            return
        self.plan_file_sig = sig
        self.plan, self.plan_text, self.pos = plan, text.strip(), 0

    def next_entry(self):
        with self.lock:
            if self.args.plan_file:
                self.reload_plan_file()
            e = self.plan[min(self.pos, len(self.plan) - 1)]
            self.pos += 1
            self.stats["requests"] += 1
            self.stats["in_flight"] += 1
            return self.stats["requests"], e

    def control(self, req):
        with self.lock:
            if "plan" in req:
                self.plan = parse_plan(str(req["plan"]))
                self.plan_text, self.pos = str(req["plan"]), 0
            if "poison" in req:
                p = req["poison"]
                self.poison = [p] if isinstance(p, str) else list(p or [])
            if req.get("reset_stats"):
                self.reset_stats()
        return self.snapshot()

    def snapshot(self):
        with self.lock:
            s = dict(self.stats)
            s["responses"] = dict(self.stats["responses"])
            s["unique_accepted"] = len(self.accepted_ids)
            s["plan"] = self.plan_text
            s["plan_pos"] = self.pos
            s["poison"] = list(self.poison)
            return s

    def record(self, entry, accepted):
        """Count the request and write its accepted events (before the answer goes out)."""
        with self.lock:
            st = self.stats
            st["responses"][entry["response"]] = st["responses"].get(entry["response"], 0) + 1
            st["events_received"] += entry["events"]
            st["bytes"] += entry["bytes"]
            if entry["auth"] != "ok":
                st["auth_failures"] += 1
            if entry.get("props_error"):
                st["bad_props"] += 1
            if accepted:
                st["events_accepted"] += len(accepted)
                for eid, _ in accepted:
                    if eid in self.accepted_ids:
                        st["duplicates_accepted"] += 1
                    self.accepted_ids.add(eid)
                if self.acc:
                    self.acc.write("".join(
                        json.dumps({"req": entry["req"], "event_id": eid, "body": body},
                                   separators=(",", ":")) + "\n" for eid, body in accepted))
                    self.acc.flush()

    def write_log(self, entry, delivered):
        """The request's log line, once its answer was written (or not)."""
        entry["delivered"] = delivered
        with self.lock:
            self.stats["in_flight"] -= 1
            if self.log:
                self.log.write(json.dumps(entry, separators=(",", ":")) + "\n")
                self.log.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hub/1"
    sys_version = ""

    def setup(self):
        self.timeout = self.server.hub.args.idle_timeout
        super().setup()

    def log_message(self, fmt, *a):
        if self.server.hub.args.verbose:
            sys.stderr.write("fake_hub: %s - %s\n" % (self.client_address[0], fmt % a))

    # -- I/O helpers

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def answer(self, code, body=b"", headers=(), ctype=None):
        """Write an answer; True when it was written without error."""
        try:
            self.send_response(code)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()
            return True
        except (OSError, ssl.SSLError):
            self.close_connection = True
            return False

    def error_answer(self, code, detail, headers=()):
        text = detail or STATUS_TEXT.get(code, "")
        body = (f"<Error><Code>{code}</Code><Detail>{xml_escape(text)}</Detail></Error>").encode()
        return self.answer(code, body, headers, "application/xml; charset=utf-8")

    def json_answer(self, obj):
        return self.answer(200, (json.dumps(obj) + "\n").encode(), (), "application/json")

    # -- routes

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_stats":
            self.json_answer(self.server.hub.snapshot())
        elif path == "/_healthz":
            self.answer(200, b"ok\n", (), "text/plain")
        else:
            self.error_answer(404, "no such resource")

    def do_POST(self):
        hub = self.server.hub
        path = urllib.parse.urlsplit(self.path).path
        try:
            body = self.read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        if path == "/_control":
            try:
                req = json.loads(body or b"{}")
                if not isinstance(req, dict):
                    raise ValueError("want a JSON object")
                self.json_answer(hub.control(req))
            except (ValueError, PlanError) as e:
                self.error_answer(400, str(e))
            return
        parts = path.strip("/").split("/")
        ok_path = (len(parts) == 2 and parts[1] == "messages") or (
            len(parts) == 4 and parts[1] in ("partitions", "publishers") and parts[3] == "messages")
        if not ok_path:
            self.error_answer(404, f"no such resource: {path}")
            return
        self.send_messages(parts[0], path, body)

    def send_messages(self, hub_name, path, body):
        hub = self.server.hub
        args = hub.args
        req, plan = hub.next_entry()
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            host = host[:host.find("]") + 1]
        else:
            host = host.split(":", 1)[0]
        scheme = "https" if self.server.tls else "http"
        resource = f"{scheme}://{host}{path}"
        if args.no_auth:
            why, se = None, None
        else:
            why, se = verify_token(self.headers.get("Authorization"), args.key_name, args.key,
                                   scheme, host, hub_name, resource, args.loose_audience,
                                   int(time.time()))
        events, perr = parse_events(self.headers.get("Content-Type") or "", body)
        ids = [event_id_of(e) for e in events]
        prop_err = None
        if args.check_props and not perr:
            for e in events:
                prop_err = props_error(e)
                if prop_err:
                    break
        entry = {"req": req, "time": round(time.time(), 3), "conn": self.conn_id, "path": path,
                 "plan": plan["text"], "response": None, "status": None, "reason": None,
                 "auth": "ok" if why is None else why, "se": se, "bytes": len(body),
                 "events": len(events), "event_ids": ids, "props_error": prop_err,
                 "delivered": None}

        if args.latency > 0:
            time.sleep(args.latency)
        kind = plan["kind"]
        if kind == "slow":
            time.sleep(plan["secs"])
            then = plan["then"]
            kind = then["kind"]
            plan = dict(then, text=plan["text"])
        if kind in ("drop", "reset"):
            entry["response"] = kind
            hub.record(entry, None)
            hub.write_log(entry, False)
            self.close_connection = True
            if kind == "reset":
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                except OSError:
                    pass
            return
        slow = plan["text"].startswith("slow")
        prefix = plan["text"].split(":")[0] + ":" + plan["text"].split(":")[1] + "/" if slow else ""
        if kind == "status":
            code = plan["code"]
            entry.update(response=prefix + str(code), status=code, reason="plan")
            hub.record(entry, None)
            delivered = self.error_answer(code, STATUS_TEXT.get(code, ""), plan["headers"])
            hub.write_log(entry, delivered)
            return
        # normal processing
        code, reason = 201, None
        if args.hub and hub_name.lower() != args.hub.lower():
            code, reason = 404, f"no event hub '{hub_name}' (this hub serves '{args.hub}')"
        elif why is not None:
            code, reason = 401, f"InvalidSignature: {why}"
        elif len(body) > args.max_bytes:
            code, reason = 413, (f"The received message (size: {len(body)}) exceeds the limit "
                                 f"({args.max_bytes} bytes).")
        elif perr:
            code, reason = 400, perr
        else:
            for e, eid in zip(events, ids):
                if any(p in e["Body"] for p in hub.poison):
                    code, reason = 400, f"poison event {eid} refused"
                    break
        entry.update(response=prefix + str(code), status=code, reason=reason)
        accepted = [(eid, e["Body"]) for e, eid in zip(events, ids)] if code == 201 else None
        hub.record(entry, accepted)
        if code == 201:
            delivered = self.answer(201)
        else:
            delivered = self.error_answer(code, reason)
        hub.write_log(entry, delivered)


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, hub, tls_ctx):
        self.hub = hub
        self.tls = tls_ctx
        self.conn_seq = 0
        self.conn_lock = threading.Lock()
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        with self.conn_lock:
            self.conn_seq += 1
            cid = self.conn_seq
        with self.hub.lock:
            self.hub.stats["connections"] += 1
        sock = request
        if self.tls:
            try:
                request.settimeout(10)
                sock = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as e:
                if self.hub.args.verbose:
                    print(f"fake_hub: TLS handshake failed: {e}", file=sys.stderr)
                return
        try:
            h = Handler.__new__(Handler)
            h.conn_id = cid
            h.__init__(sock, client_address, self)
        finally:
            if sock is not request:
                try:
                    sock.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        if self.hub.args.verbose:
            super().handle_error(request, client_address)


# ---- check mode ------------------------------------------------------------------------------

def read_jsonl(path):
    out = []
    if not path:
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def read_ids(path):
    ids = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                o = json.loads(line)
                ids.append(o["event_id"] if "event_id" in o else o["event"]["event_id"])
            else:
                ids.append(line)
    return ids


def check(argv):
    ap = argparse.ArgumentParser(prog="fake_hub.py check")
    ap.add_argument("--log", required=True)
    ap.add_argument("--accepted", required=True)
    ap.add_argument("--expect", help="JSON Lines envelopes or one event_id a line")
    ap.add_argument("--dead", help="event_ids (or dead-letter dump lines) never to be accepted")
    ap.add_argument("--allow-resend", action="store_true",
                    help="do not check that a sent event was resent only after no ack")
    a = ap.parse_args(argv)
    reqs = [r for r in read_jsonl(a.log) if "response" in r]
    acc = read_jsonl(a.accepted)
    problems = []
    counts = {}
    for r in acc:
        counts[r["event_id"]] = counts.get(r["event_id"], 0) + 1
    summary = {"requests": len(reqs), "accepted_lines": len(acc), "accepted_unique": len(counts),
               "duplicates": len(acc) - len(counts),
               "responses": {}, "auth_failures": sum(1 for r in reqs if r["auth"] != "ok"),
               "props_errors": sum(1 for r in reqs if r.get("props_error"))}
    for r in reqs:
        summary["responses"][r["response"]] = summary["responses"].get(r["response"], 0) + 1
    if a.expect:
        want = read_ids(a.expect)
        wset = set(want)
        dead = set(read_ids(a.dead)) if a.dead else set()
        missing = [i for i in want if i not in counts and i not in dead]
        extra = [i for i in counts if i not in wset]
        summary.update(expected=len(want), missing=len(missing), unexpected=len(extra))
        if missing:
            problems.append(f"{len(missing)} expected events never accepted, e.g. {missing[:3]}")
        if extra:
            problems.append(f"{len(extra)} accepted events were not expected, e.g. {extra[:3]}")
    if a.dead:
        dead = read_ids(a.dead)
        bad = [i for i in dead if i in counts]
        summary["dead"] = len(dead)
        if bad:
            problems.append(f"dead-lettered events were accepted too: {bad[:3]}")
    if not a.allow_resend:
        # a request answered with a plain 201 must be the last one holding each of its events
        last = {}
        for r in sorted(reqs, key=lambda r: r["req"]):
            for eid in r["event_ids"] or []:
                last[eid] = r["req"]
        bad = []
        for r in reqs:
            if r["response"] == "201" and r.get("delivered"):
                for eid in r["event_ids"] or []:
                    if last.get(eid) != r["req"]:
                        bad.append((eid, r["req"], last.get(eid)))
        summary["resent_after_ack"] = len(bad)
        if bad:
            eid, r1, r2 = bad[0]
            problems.append(f"{len(bad)} events sent again after an acknowledged send, e.g. "
                            f"{eid} acknowledged in request {r1}, sent again in request {r2}")
    summary["ok"] = not problems
    summary["problems"] = problems
    print(json.dumps(summary))
    return 0 if not problems else 1


# ---- main ------------------------------------------------------------------------------------

def main(argv):
    if argv and argv[0] == "check":
        return check(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: pick a free port")
    ap.add_argument("--port-file", help="written (atomically) with the port once listening")
    ap.add_argument("--key", help="the SAS key (as written in the connection string)")
    ap.add_argument("--key-name", default="send")
    ap.add_argument("--no-auth", action="store_true", help="do not check tokens")
    ap.add_argument("--loose-audience", action="store_true",
                    help="accept any audience covering the resource (scheme and port ignored)")
    ap.add_argument("--hub", help="the one event hub served (others: 404); default: any")
    ap.add_argument("--plan", default="201", help="e.g. '201*5,429:retry-after=2,503,drop,"
                    "slow:3,401,413,201' (the last entry repeats)")
    ap.add_argument("--plan-file", help="the plan from a file, read again when it changes")
    ap.add_argument("--poison", action="append", metavar="SUBSTRING",
                    help="400 for a batch with an event whose Body contains it (repeatable)")
    ap.add_argument("--max-bytes", type=int, default=1048576, help="larger bodies get 413")
    ap.add_argument("--latency", type=float, default=0,
                    help="wait this long (s) before answering any send (a slow link)")
    ap.add_argument("--no-check-props", dest="check_props", action="store_false",
                    help="do not check UserProperties/BrokerProperties against the Body")
    ap.add_argument("--log", help="append one JSON line per send request")
    ap.add_argument("--accepted", help="append one JSON line per event answered 201")
    ap.add_argument("--tls-cert", help="PEM certificate (chain): serve HTTPS")
    ap.add_argument("--tls-key", help="PEM key of --tls-cert")
    ap.add_argument("--idle-timeout", type=float, default=120,
                    help="close a keep-alive connection idle this long (s)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.no_auth and not args.key:
        ap.error("--key is required (or --no-auth)")
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    try:
        hub = Hub(args)
    except PlanError as e:
        ap.error(str(e))
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    srv = Server((args.host, args.port), hub, tls)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"fake_hub: listening on {'https' if tls else 'http'}://{args.host}:{port}",
          file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()
        for f in (hub.log, hub.acc):
            if f:
                f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
