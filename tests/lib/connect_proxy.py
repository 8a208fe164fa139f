#!/usr/bin/python3
"""tests/lib/connect_proxy.py - a small HTTP CONNECT proxy, as factory and shop networks have.

    connect_proxy.py --port-file FILE --log FILE [--port N] [--refuse] [--auth USER:PASSWORD]

Each CONNECT host:port opens a tunnel (the answer "HTTP/1.1 200 Connection established") and
bytes flow both ways until either side closes. Every request line is logged, one JSON object a
line: {"method": "CONNECT", "target": "127.0.0.1:8080", "status": 200} when the tunnel opens
(or is refused), and {"method": "CONNECT", "target": …, "closed": true, "bytes_up": N,
"bytes_down": M} when it closes. Anything but
CONNECT is answered 405. --refuse answers every CONNECT 403; --auth requires
Proxy-Authorization: Basic (407 without it). The port goes to --port-file once listening.
"""
import argparse
import base64
import json
import os
import socket
import threading


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > 65536:
            return None, b""
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def pump(src, dst, count, key):
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            count[key] += len(chunk)
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Proxy:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1)

    def record(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")

    def answer(self, conn, status, reason, extra=""):
        conn.sendall(f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\n\r\n".encode())

    def handle(self, conn):
        with conn:
            head, rest = read_head(conn)
            if head is None:
                return
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            method, target = (parts + ["", ""])[:2]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            entry = {"method": method, "target": target}
            if method != "CONNECT":
                entry["status"] = 405
                self.record(entry)
                return self.answer(conn, 405, "Method Not Allowed")
            if self.args.refuse:
                entry["status"] = 403
                self.record(entry)
                return self.answer(conn, 403, "Forbidden")
            if self.args.auth:
                want = "Basic " + base64.b64encode(self.args.auth.encode()).decode()
                if headers.get("proxy-authorization") != want:
                    entry["status"] = 407
                    self.record(entry)
                    return self.answer(conn, 407, "Proxy Authentication Required",
                                       'Proxy-Authenticate: Basic realm="test"\r\n')
            host, _, port = target.rpartition(":")
            try:
                up = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            except (OSError, ValueError):
                entry["status"] = 502
                self.record(entry)
                return self.answer(conn, 502, "Bad Gateway")
            up.settimeout(None)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.record(dict(entry, status=200))
            count = {"bytes_up": len(rest), "bytes_down": 0}
            if rest:
                up.sendall(rest)
            t = threading.Thread(target=pump, args=(up, conn, count, "bytes_down"), daemon=True)
            t.start()
            pump(conn, up, count, "bytes_up")
            t.join()
            up.close()
            self.record(dict(entry, closed=True, **count))

    def serve(self):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.args.port))
        srv.listen(64)
        with open(self.args.port_file + ".tmp", "w") as f:
            f.write(str(srv.getsockname()[1]))
        os.rename(self.args.port_file + ".tmp", self.args.port_file)
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--refuse", action="store_true")
    ap.add_argument("--auth")
    Proxy(ap.parse_args()).serve()


if __name__ == "__main__":
    main()
