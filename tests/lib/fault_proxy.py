#!/usr/bin/python3
"""fault_proxy.py - an HTTP/1.1 fault injector in front of a real hubcap-receiver (standard
library only). It is not a hub: every request it lets through goes to --upstream unchanged and
the upstream's answer comes back unchanged; it only adds faults, as a bad link or a throttling
gateway would.

    fault_proxy.py --listen PORT --upstream HOST:PORT [--latency MS] [--jitter MS]
                   [--reset F] [--drop F] [--throttle F] [--unavailable F]
                   [--storm-every SECS --storm-for SECS --storm-code CODE[,CODE...]]
                   [--seed N] [--stats FILE]

Per request (fractions 0..1, drawn in this order):
  --reset F        read the request, then reset the connection (RST) without forwarding it
  --drop F         forward it, wait for the answer, then close without passing the answer on
                   (the event is stored but the sender does not know: it must send again)
  --throttle F     answer 429 with Retry-After: 1, not forwarded
  --unavailable F  answer 503 with Retry-After: 1, not forwarded
Storms: every --storm-every seconds, for the last --storm-for seconds of the period, every
request is answered --storm-code (not forwarded); with a list (--storm-code 429,503) the
storms take the codes in turn. --latency/--jitter delay each forwarded request (a slow link).
--stats FILE is rewritten with the counters (JSON) after every request: requests, forwarded,
reset, dropped, throttled, unavailable, storm (all storm answers) and storm_CODE per code,
upstream_errors (answered 502), connections.
"""
import argparse
import json
import os
import random
import socket
import struct
import threading
import time

CRLF = b"\r\n"


def read_request(f):
    """One request from a buffered socket file: (head bytes, body bytes) or None at EOF."""
    line = f.readline(65537)
    if not line:
        return None
    head = [line]
    length = 0
    while True:
        h = f.readline(65537)
        if not h:
            return None
        head.append(h)
        if h in (b"\r\n", b"\n"):
            break
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    body = f.read(length) if length else b""
    return b"".join(head), body


def read_response(f):
    """One response (Content-Length or chunked) from the upstream, as raw bytes."""
    status = f.readline(65537)
    if not status:
        raise ConnectionError("upstream closed")
    out = [status]
    length, chunked = 0, False
    while True:
        h = f.readline(65537)
        out.append(h)
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v.strip())
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if chunked:
        while True:
            size_line = f.readline(65537)
            out.append(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            data = f.read(size + 2)
            out.append(data)
            if size == 0:
                break
    elif length:
        out.append(f.read(length))
    return b"".join(out)


class Proxy:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.lock = threading.Lock()
        self.t0 = time.time()
        self.stats = {"requests": 0, "forwarded": 0, "reset": 0, "dropped": 0, "throttled": 0,
                      "unavailable": 0, "storm": 0, "upstream_errors": 0, "connections": 0}
        for c in a.storm_codes:
            self.stats["storm_%d" % c] = 0

    def count(self, k):
        with self.lock:
            self.stats[k] += 1
            if self.a.stats:
                tmp = self.a.stats + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(self.stats, f)
                os.replace(tmp, self.a.stats)

    def decide(self):
        """(what, code): what is reset, drop, throttled, unavailable, storm or forward."""
        a = self.a
        if a.storm_every > 0:
            elapsed = time.time() - self.t0
            if elapsed % a.storm_every >= a.storm_every - a.storm_for:
                n = int(elapsed // a.storm_every)
                return "storm", a.storm_codes[n % len(a.storm_codes)]
        with self.lock:
            r = self.rng.random()
        for name, p, code in (("reset", a.reset, 0), ("drop", a.drop, 0),
                              ("throttled", a.throttle, 429), ("unavailable", a.unavailable, 503)):
            if r < p:
                return name, code
            r -= p
        return "forward", 0

    def answer(self, conn, code, text):
        body = b"<Error><Code>%d</Code><Detail>%s (fault_proxy)</Detail></Error>" % (code, text)
        conn.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nRetry-After: 1\r\n"
                     b"Content-Length: %d\r\n\r\n" % (code, text, len(body)) + body)

    def serve(self, conn):
        self.count("connections")
        up = upf = None
        f = conn.makefile("rb")
        try:
            while True:
                req = read_request(f)
                if req is None:
                    return
                self.count("requests")
                what, code = self.decide()
                if what == "reset":
                    self.count("reset")
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if what in ("throttled", "unavailable", "storm"):
                    self.count(what)
                    if what == "storm":
                        self.count("storm_%d" % code)
                    self.answer(conn, code, b"Too Many Requests" if code == 429 else
                                b"Service Unavailable")
                    continue
                delay = self.a.latency + (self.rng.random() * self.a.jitter if self.a.jitter else 0)
                if delay:
                    time.sleep(delay / 1000.0)
                try:
                    if up is None:
                        host, port = self.a.upstream.rsplit(":", 1)
                        up = socket.create_connection((host, int(port)), timeout=120)
                        upf = up.makefile("rb")
                    up.sendall(req[0] + req[1])
                    resp = read_response(upf)
                except (OSError, ConnectionError, ValueError):
                    self.count("upstream_errors")
                    if up is not None:
                        up.close()
                    up = upf = None
                    self.answer(conn, 502, b"Bad Gateway")
                    continue
                if what == "drop":
                    self.count("dropped")
                    return
                self.count("forwarded")
                conn.sendall(resp)
        except OSError:
            pass
        finally:
            if up is not None:
                up.close()
            try:
                conn.close()
            except OSError:
                pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--latency", type=float, default=0)
    p.add_argument("--jitter", type=float, default=0)
    for k in ("reset", "drop", "throttle", "unavailable"):
        p.add_argument("--" + k, type=float, default=0)
    p.add_argument("--storm-every", type=float, default=0)
    p.add_argument("--storm-for", type=float, default=0)
    p.add_argument("--storm-code", default="503")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stats")
    a = p.parse_args()
    a.storm_codes = [int(c) for c in a.storm_code.split(",")]
    px = Proxy(a)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", a.listen))
    s.listen(512)
    while True:
        c, _ = s.accept()
        threading.Thread(target=px.serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
