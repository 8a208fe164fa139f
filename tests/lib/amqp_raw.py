"""tests/lib/amqp_raw.py - an AMQP 1.0 peer over a raw socket, for the receiver's fault tests.

Our own small encoder and decoder of the AMQP type system and of frames (the AMQP 1.0 spec,
part 1 and 2), so a test can speak the protocol exactly, or break it on purpose: hostile frames,
a peer that stops reading, a peer that goes silent, a peer that sends only empty frames. It is
a fault injector, not a client library: one blocking socket, no flow control of its own.

    c = Peer("127.0.0.1", port)        # TCP connect (timeout 10 s)
    c.sasl_anonymous()                  # AMQP\\x03 header, ANONYMOUS, outcome ok
    c.open()                            # AMQP\\x00 header, open; returns the peer's open fields
    c.begin()                           # channel 0
    c.put_token(audience, token)        # $cbs: sender and receiver links, put-token; status int
    h = c.attach_sender("hub")          # a sender link; returns our handle
    c.transfer(h, tag, b"body")         # one unsettled message with a data section
    c.wait_disposition()                # (first, last, outcome code) of the next disposition
    c.close_reason()                    # read until the peer's close: (condition, description)

Values: Python None/bool/int (uint unless wrapped)/str (string)/bytes (binary), Sym(str),
ULong(int), Int(int), UByte(int), Described(code, value), lists and dicts.
"""
import base64
import hashlib
import hmac
import socket
import struct
import time
import urllib.parse


class Sym(str):
    pass


class ULong(int):
    pass


class Int(int):
    pass


class UByte(int):
    pass


class Described:
    def __init__(self, code, value):
        self.code, self.value = code, value

    def __repr__(self):
        return f"Described(0x{self.code:x}, {self.value!r})"


def enc(v):
    if v is None:
        return b"\x40"
    if v is True:
        return b"\x41"
    if v is False:
        return b"\x42"
    if isinstance(v, Described):
        return b"\x00\x80" + struct.pack(">Q", v.code) + enc(v.value)
    if isinstance(v, Sym):
        b = v.encode()
        return (b"\xa3" + bytes([len(b)]) if len(b) < 256 else b"\xb3" + struct.pack(">I", len(b))) + b
    if isinstance(v, str):
        b = v.encode()
        return (b"\xa1" + bytes([len(b)]) if len(b) < 256 else b"\xb1" + struct.pack(">I", len(b))) + b
    if isinstance(v, (bytes, bytearray)):
        return (b"\xa0" + bytes([len(v)]) if len(v) < 256 else b"\xb0" + struct.pack(">I", len(v))) + bytes(v)
    if isinstance(v, UByte):
        return b"\x50" + bytes([v])
    if isinstance(v, ULong):
        return b"\x80" + struct.pack(">Q", v)
    if isinstance(v, Int):
        return b"\x71" + struct.pack(">i", v)
    if isinstance(v, int):
        return b"\x70" + struct.pack(">I", v)
    if isinstance(v, (list, tuple)):
        body = b"".join(enc(x) for x in v)
        return b"\xd0" + struct.pack(">II", len(body) + 4, len(v)) + body
    if isinstance(v, dict):
        body = b"".join(enc(k) + enc(x) for k, x in v.items())
        return b"\xd1" + struct.pack(">II", len(body) + 4, 2 * len(v)) + body
    raise TypeError(f"cannot encode {v!r}")


FIXED = {0x40: 0, 0x41: 0, 0x42: 0, 0x43: 0, 0x44: 0, 0x45: 0, 0x56: 1, 0x50: 1, 0x51: 1, 0x52: 1,
         0x53: 1, 0x54: 1, 0x55: 1, 0x60: 2, 0x61: 2, 0x70: 4, 0x71: 4, 0x72: 4, 0x73: 4,
         0x80: 8, 0x81: 8, 0x82: 8, 0x83: 8, 0x84: 8, 0x94: 16, 0x98: 16}


def dec(b, i=0):
    """One value at b[i:]: (value, next index)."""
    c = b[i]
    i += 1
    if c == 0x00:
        d, i = dec(b, i)
        v, i = dec(b, i)
        return Described(d, v), i
    if c in FIXED:
        n = FIXED[c]
        raw = b[i:i + n]
        if len(raw) != n:
            raise ValueError("short value")
        i += n
        if c == 0x40:
            return None, i
        if c in (0x41, 0x42):
            return c == 0x41, i
        if c == 0x56:
            return raw[0] == 1, i
        if c in (0x43, 0x44):
            return 0, i
        if c == 0x45:
            return [], i
        if c in (0x50, 0x52, 0x53, 0x60, 0x70, 0x80):
            return int.from_bytes(raw, "big"), i
        if c in (0x51, 0x54, 0x55, 0x61, 0x71, 0x81, 0x83):
            return int.from_bytes(raw, "big", signed=True), i
        return bytes(raw), i
    if c in (0xa0, 0xa1, 0xa3, 0xb0, 0xb1, 0xb3):
        if c & 0x10:
            (n,) = struct.unpack_from(">I", b, i)
            i += 4
        else:
            n = b[i]
            i += 1
        raw = bytes(b[i:i + n])
        i += n
        return (raw if c in (0xa0, 0xb0) else (Sym if c & 3 == 3 else str)(raw.decode())), i
    if c in (0xc0, 0xc1, 0xd0, 0xd1):
        if c & 0x10:
            size, count = struct.unpack_from(">II", b, i)
            i += 8
        else:
            size, count = b[i], b[i + 1]
            i += 2
        items = []
        for _ in range(count):
            v, i = dec(b, i)
            items.append(v)
        if c in (0xc1, 0xd1):
            return dict(zip(items[0::2], items[1::2])), i
        return items, i
    if c in (0xe0, 0xf0):
        if c == 0xf0:
            size, count = struct.unpack_from(">II", b, i)
            i += 8
        else:
            size, count = b[i], b[i + 1]
            i += 2
        ctor = b[i]
        i += 1
        items = []
        for _ in range(count):
            v, j = dec(bytes([ctor]) + bytes(b[i:]), 0)
            items.append(v)
            i += j - 1
        return items, i
    raise ValueError(f"unknown constructor 0x{c:02x}")


def frame(body, channel=0, ftype=0):
    return struct.pack(">IBBH", 8 + len(body), 2, ftype, channel) + body


def performative(code, fields, payload=b""):
    return b"\x00\x53" + bytes([code]) + enc(list(fields)) + payload


def sas_token(uri, key_name, key, ttl=3600):
    exp = int(time.time()) + ttl
    sr = urllib.parse.quote_plus(uri.lower())
    sig = base64.b64encode(hmac.new(key.encode(), f"{sr}\n{exp}".encode(), hashlib.sha256).digest())
    return "SharedAccessSignature sr=%s&sig=%s&se=%d&skn=%s" % (
        sr, urllib.parse.quote_plus(sig), exp, urllib.parse.quote_plus(key_name))


NAMES = {0x10: "open", 0x11: "begin", 0x12: "attach", 0x13: "flow", 0x14: "transfer",
         0x15: "disposition", 0x16: "detach", 0x17: "end", 0x18: "close",
         0x40: "sasl-mechanisms", 0x44: "sasl-outcome"}


class Closed(Exception):
    pass


class Peer:
    def __init__(self, host, port, timeout=10, rcvbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # a small receive buffer: a peer that stops reading backs the sender up soon
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect((host, port))
        self.buf = b""
        self.handles = 0
        self.frames = []  # every (name, fields, payload) read, in order
        self.next_id = 0

    def send(self, data):
        self.s.sendall(data)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise Closed(f"the socket closed ({len(self.buf)} bytes left unread)")
            self.buf += chunk

    def read_header(self):
        self._fill(8)
        h, self.buf = self.buf[:8], self.buf[8:]
        return h

    def read_frame(self):
        """The next frame: (name or code, fields, payload, channel); None for an empty frame."""
        self._fill(8)
        size, doff, ftype, ch = struct.unpack(">IBBH", self.buf[:8])
        self._fill(size)
        body, self.buf = self.buf[doff * 4:size], self.buf[size:]
        if not body:
            return None
        d, i = dec(body, 0)
        f = (NAMES.get(d.code, d.code), d.value, body[i:], ch)
        self.frames.append(f)
        return f

    def expect(self, name):
        while True:
            f = self.read_frame()
            if f is None:
                continue
            if f[0] == "close" and name != "close":
                raise Closed(f"the peer closed: {f[1]}")
            if f[0] == name:
                return f

    def sasl_anonymous(self):
        self.send(b"AMQP\x03\x01\x00\x00")
        assert self.read_header() == b"AMQP\x03\x01\x00\x00"
        mechs = self.expect("sasl-mechanisms")
        self.send(frame(performative(0x41, [Sym("ANONYMOUS"), b""]), ftype=1))
        out = self.expect("sasl-outcome")
        assert out[1][0] == 0, out
        return mechs[1][0]

    def open(self, max_frame=65536, idle_ms=None, header=True):
        if header:
            self.send(b"AMQP\x00\x01\x00\x00")
            assert self.read_header() == b"AMQP\x00\x01\x00\x00"
        self.send(frame(performative(0x10, ["raw-peer", "localhost", max_frame, 255, idle_ms])))
        return self.expect("open")[1]

    def begin(self, window=10000):
        self.send(frame(performative(0x11, [None, 0, window, window])))
        return self.expect("begin")[1]

    def attach(self, name, role_receiver, source, target, props=None):
        h = self.handles
        self.handles += 1
        fields = [name, h, role_receiver, None, None,
                  Described(0x28, [source]) if source is not None else None,
                  Described(0x29, [target]) if target is not None else None,
                  None, None, None if role_receiver else 0]
        self.send(frame(performative(0x12, fields)))
        return h

    def attach_sender(self, target):
        h = self.attach(f"raw-send-{self.handles}", False, None, target)
        a = self.expect("attach")
        return h, a[1]

    def flow(self, h, credit, delivery_count=0):
        self.send(frame(performative(0x13, [0, 10000, self.next_id, 10000, h, delivery_count, credit])))

    def message(self, body, props=None, msg_id=None, app=None, value=None):
        out = b""
        if msg_id is not None:
            out += enc(Described(0x73, [msg_id]))
        if app:
            out += enc(Described(0x74, app))
        if value is not None:
            out += enc(Described(0x77, value))
        else:
            out += enc(Described(0x75, body))
        return out

    def transfer(self, h, payload, settled=False):
        did = self.next_id
        self.next_id += 1
        self.send(frame(performative(0x14, [h, did, struct.pack(">Q", did), 0, settled], payload)))
        return did

    def wait_disposition(self):
        """(first, last, outcome descriptor code or None, its fields) of the next disposition."""
        f = self.expect("disposition")
        fl = f[1]
        first = fl[1]
        last = fl[2] if len(fl) > 2 and fl[2] is not None else first
        st = fl[4] if len(fl) > 4 else None
        return first, last, st.code if isinstance(st, Described) else None, st

    def put_token(self, audience, token):
        hs, _ = self.attach_sender("$cbs")
        hr = self.attach("raw-cbs-reply", True, "$cbs", "raw-cbs-reply")
        self.expect("attach")
        self.flow(hr, 10)
        self.transfer(hs, self.message(None, msg_id=ULong(1), app={
            "operation": "put-token", "type": "servicebus.windows.net:sastoken",
            "name": audience}, value=token))
        while True:
            f = self.expect("transfer")
            _, i = None, 0
            p = f[2]
            while i < len(p):
                d, i = dec(p, i)
                if d.code == 0x74:
                    return d.value.get("status-code")

    def connect(self, audience, key_name, key, target):
        """SASL, open, begin, put-token for audience, a sender link to target: its handle."""
        self.sasl_anonymous()
        self.open()
        self.begin()
        st = self.put_token(audience, sas_token(audience, key_name, key))
        assert st == 200, f"put-token: status {st}"
        h, a = self.attach_sender(target)
        assert a[5] is not None or a[6] is not None, f"the link was refused: {a}"
        return h

    def send_many(self, h, bodies, window=100):
        """Send every body unsettled, at most window in flight: outcome code -> count."""
        outcomes, sent, done = {}, 0, 0
        while done < len(bodies):
            while sent < len(bodies) and sent - done < window:
                self.transfer(h, self.message(bodies[sent]))
                sent += 1
            first, last, code, _ = self.wait_disposition()
            n = last - first + 1
            outcomes[code] = outcomes.get(code, 0) + n
            done += n
        return outcomes

    def heartbeat(self):
        self.send(frame(b""))

    def close_reason(self, timeout=30):
        """Read until the peer's close; its (condition, description), or None without an error."""
        self.s.settimeout(timeout)
        f = self.expect("close")
        err = f[1][0] if f[1] else None
        if err is None:
            return None
        return err.value[0], err.value[1] if len(err.value) > 1 else None
