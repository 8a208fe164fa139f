#!/usr/bin/python3
"""tcp_fault_proxy.py - a TCP fault injector in front of a real hubcap-receiver, for protocols
the HTTP fault proxy (fault_proxy.py) cannot read, such as AMQP (standard library only). Bytes
pass unchanged; it only adds faults, as a bad link does.

    tcp_fault_proxy.py --listen PORT --upstream HOST:PORT [--latency MS] [--jitter MS]
                       [--reset F] [--drop F] [--storm-every SECS --storm-for SECS]
                       [--seed N] [--stats FILE] [--upstream-wait SECS]

Per chunk of bytes (fractions 0..1):
  --reset F   a chunk from the client is not forwarded: both connections are reset (RST)
  --drop F    a chunk from the server (an answer: dispositions, replies) is not passed on: both
              connections are reset, so what the server stored and acknowledged in it is
              unknown to the client, which must send it again
--latency/--jitter delay each chunk from the client (a slow link). Storms: every --storm-every
seconds, for the last --storm-for seconds of the period, every open connection is reset once
and new connections are reset at once. --stats FILE is rewritten with the counters (JSON):
connections, chunks_up, chunks_down, reset, dropped, storm_cuts, storm_refused.
--upstream-wait SECS: a connection whose upstream refuses is held while the proxy tries again
(every 50 ms, up to SECS), as a gateway in front of a restarting server does; default 0: reset.
"""
import argparse
import json
import os
import random
import socket
import struct
import threading
import time


class Proxy:
    def __init__(self, a):
        self.a = a
        self.rnd = random.Random(a.seed)
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.stats = dict(connections=0, chunks_up=0, chunks_down=0, reset=0, dropped=0,
                          storm_cuts=0, storm_refused=0)
        self.pairs = {}
        self.storm_seen = -1

    def count(self, k):
        with self.lock:
            self.stats[k] += 1
            if self.a.stats:
                tmp = self.a.stats + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(self.stats, f)
                os.rename(tmp, self.a.stats)

    def chance(self, p):
        with self.lock:
            return self.rnd.random() < p

    def storm(self):
        """The number of the storm going on now, or -1."""
        if not self.a.storm_every:
            return -1
        t = time.monotonic() - self.t0
        n = int(t // self.a.storm_every)
        return n if t - n * self.a.storm_every >= self.a.storm_every - self.a.storm_for else -1

    @staticmethod
    def rst(*socks):
        """Reset both ends. shutdown first: a close alone does not wake up the thread blocked
        in recv on the socket, and the connection would hang open instead of breaking."""
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def pump(self, src, dst, up, pair):
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if pair["dead"]:
                    return
                if up:
                    self.count("chunks_up")
                    if self.chance(self.a.reset):
                        self.count("reset")
                        break
                    delay = self.a.latency + self.rnd.uniform(0, self.a.jitter)
                    if delay:
                        time.sleep(delay / 1000.0)
                else:
                    self.count("chunks_down")
                    if self.chance(self.a.drop):
                        self.count("dropped")
                        break
                dst.sendall(chunk)
        except OSError:
            pass
        pair["dead"] = True
        self.rst(src, dst)

    def handle(self, conn):
        self.count("connections")
        if self.storm() >= 0:
            self.count("storm_refused")
            return self.rst(conn)
        until = time.monotonic() + self.a.upstream_wait
        while True:
            try:
                up = socket.create_connection(self.a.upstream, timeout=10)
                break
            except OSError:
                if time.monotonic() >= until:
                    return self.rst(conn)
                time.sleep(0.05)
        up.settimeout(None)
        pair = {"dead": False, "socks": (conn, up)}
        with self.lock:
            self.pairs[id(pair)] = pair
        t = threading.Thread(target=self.pump, args=(up, conn, False, pair), daemon=True)
        t.start()
        self.pump(conn, up, True, pair)
        t.join()
        with self.lock:
            self.pairs.pop(id(pair), None)

    def stormer(self):
        while True:
            n = self.storm()
            if n >= 0 and n != self.storm_seen:
                self.storm_seen = n
                with self.lock:
                    pairs = list(self.pairs.values())
                for p in pairs:
                    if not p["dead"]:
                        p["dead"] = True
                        self.count("storm_cuts")
                        self.rst(*p["socks"])
            time.sleep(0.05)

    def serve(self):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.a.listen))
        srv.listen(256)
        threading.Thread(target=self.stormer, daemon=True).start()
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--latency", type=float, default=0)
    ap.add_argument("--jitter", type=float, default=0)
    ap.add_argument("--reset", type=float, default=0)
    ap.add_argument("--drop", type=float, default=0)
    ap.add_argument("--storm-every", type=float, default=0)
    ap.add_argument("--storm-for", type=float, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats")
    ap.add_argument("--upstream-wait", type=float, default=0)
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    a.upstream = (host, int(port))
    Proxy(a).serve()


if __name__ == "__main__":
    main()
