#!/usr/bin/env python3
"""notify_listen.py SOCKET OUT --pid-file FILE [--port PORT] [--path FILE]

Stands in for systemd's notification socket (sd_notify(3)): binds the datagram socket SOCKET and
writes every message it receives to OUT, one JSON object a line, flushed at once:
  {"t": monotonic seconds, "msg": "READY=1\\nSTATUS=...", "port_ok": bool, "path_ok": bool}

The first message is checked while its sender is held inside sd_notify(): before the daemon
starts, the socket's queue is filled with dummies, so the daemon's first sendmsg() blocks; once
/proc/PID/syscall (PID from --pid-file, written by the test after it started the daemon) shows
the daemon's main thread waiting in sendmsg, the daemon cannot move on, and what a client
relies on at READY=1 is checked then: --port, that 127.0.0.1:PORT accepts a TCP connection;
--path, that FILE exists. Only then is the queue read. The result is attached to the first real
message (a daemon that says READY=1 before it listens fails this, whatever the timing).
Runs until killed (SIGTERM).
"""
import argparse
import json
import os
import platform
import signal
import socket
import sys
import time

# sendmsg and sendto, the calls sd_notify may block in
SENDS = {"x86_64": {"46", "44"}, "aarch64": {"211", "206"}}.get(platform.machine(), set())

ap = argparse.ArgumentParser()
ap.add_argument("socket")
ap.add_argument("out")
ap.add_argument("--pid-file", required=True)
ap.add_argument("--port", type=int)
ap.add_argument("--path")
a = ap.parse_args()
if not SENDS:
    sys.exit(f"notify_listen.py: no syscall numbers for {platform.machine()}")

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
if os.path.exists(a.socket):
    os.unlink(a.socket)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(a.socket)
filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
filler.setblocking(False)
dummies = 0
try:
    while True:
        filler.sendto(b"X-FILL=1", a.socket)
        dummies += 1
except BlockingIOError:
    pass
filler.close()
open(a.socket + ".full", "w").close()  # the test starts the daemon after this


def check():
    rec = {}
    if a.port:
        try:
            socket.create_connection(("127.0.0.1", a.port), timeout=2).close()
            rec["port_ok"] = True
        except OSError as e:
            rec["port_ok"] = False
            rec["port_err"] = str(e)
    if a.path:
        rec["path_ok"] = os.path.exists(a.path)
    return rec


deadline = time.monotonic() + 60
while not os.path.exists(a.pid_file):
    if time.monotonic() > deadline:
        sys.exit("notify_listen.py: no pid file")
    time.sleep(0.01)
pid = int(open(a.pid_file).read())
held = None
while held is None:
    try:
        nr = open(f"/proc/{pid}/syscall").read().split()[0]
    except OSError:
        sys.exit("notify_listen.py: the daemon is gone before its first message")
    if nr in SENDS:
        held = check()
        held["held"] = True
    elif time.monotonic() > deadline:
        sys.exit("notify_listen.py: the daemon sent nothing in 60 s")
    else:
        time.sleep(0.001)

first = True
with open(a.out, "a") as out:
    while True:
        data = s.recv(4096)
        if dummies:
            dummies -= 1
            continue
        rec = {"t": time.monotonic(), "msg": data.decode("utf-8", "replace")}
        if first:
            rec.update(held)
            first = False
        elif "READY=1" in rec["msg"].split("\n"):
            rec.update(check())
        out.write(json.dumps(rec) + "\n")
        out.flush()
