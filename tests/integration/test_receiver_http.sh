#!/usr/bin/env bash
# The receiver's HTTP server against clients that write before they read, pipeline, frame bodies
# oddly or trickle bytes:
# - 413 (a body over max_publication) and the max_inflight 503 (with Retry-After) reach clients
#   that send a multi-MB body before reading, 20 times out of 20, with raw sockets, http.client
#   and urllib; a drained refusal keeps its connection for the next request;
# - a refused request (401, 404, 405, 400, 413), or a GET, with a pipelined good send behind it:
#   both are answered and the good one is captured;
# - Transfer-Encoding gzip is 501, two different Content-Lengths and Content-Length with
#   Transfer-Encoding 400 (then closed), HTTP/1.1 without Host 400;
# - with connection_limit 16, 16 connections sending a byte a second are closed by
#   header_timeout and a new request gets through; a stalled body is closed by body_timeout;
#   both counted in /metrics;
# - when the connections are gone nothing is left charged against max_inflight.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"

cap="$T/capture"
cat > "$T/rx.conf" <<CONF
[receiver]
max_publication = 1M
max_inflight = 1M
connection_limit = 16
header_timeout = 2s
body_timeout = 2s
http_threads = 2
[capture]
dir = $cap
[hub events]
partitions = 4
[rule RootManageSharedAccessKey]
key = SAS_KEY_VALUE
rights = manage
CONF
rx_start -c "$T/rx.conf"

"$PY" - "$RX_PORT" "$HC_SRC" <<'PY' || fail "see above"
import http.client, socket, sys, threading, time, urllib.error, urllib.request
sys.path.insert(0, sys.argv[2] + "/tests/lib")
import rxtool

port = int(sys.argv[1])
tok = rxtool.sas_token("http://127.0.0.1/events", "RootManageSharedAccessKey", "SAS_KEY_VALUE",
                       int(time.time()) + 3600)
BATCH = rxtool.BATCH_TYPE
url = "http://127.0.0.1:%d/events/messages" % port
failures = []

def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)

def head(path, clen, auth=tok, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\nContent-Type: %s\r\n"
            "%sContent-Length: %d\r\n\r\n" % (path, auth, BATCH, extra, clen)).encode()

def read_answer(s, buf=b""):
    """One HTTP answer from s (after the bytes buf already read): (status, headers, rest), rest
    being what was read past it; (None, {}, error) on a failure."""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return None, {}, "closed before an answer (%r)" % buf[:80]
            buf += d
        top, _, rest = buf.partition(b"\r\n\r\n")
        lines = top.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        n = int(hdrs.get("content-length", 0))
        while len(rest) < n:
            d = s.recv(65536)
            if not d:
                break
            rest += d
        return int(lines[0].split()[1]), hdrs, rest[n:]
    except OSError as e:
        return None, {}, repr(e)

def raw_whole_body(path, body, auth=tok):
    """Write headers and the whole body, only then read: (socket, status, headers)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(head(path, len(body), auth) + body)
    except OSError as e:
        s.close()
        return None, None, {"error": repr(e)}
    st, h, _ = read_answer(s)
    return s, st, h

def good_on(s, n):
    body = b'[{"Body":"KEPT-%d"}]' % n
    try:
        s.sendall(head("/events/messages", len(body)) + body)
    except OSError as e:
        return repr(e)
    return read_answer(s)[0]

def client_status(body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("POST", "/events/messages", body=body,
                  headers={"Authorization": tok, "Content-Type": BATCH})
        r = c.getresponse()
        r.read()
        return r.status, r.getheader("Retry-After")
    except OSError as e:
        return repr(e), None
    finally:
        c.close()

def urllib_status(body):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Authorization": tok, "Content-Type": BATCH})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers.get("Retry-After")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Retry-After")
    except OSError as e:
        return repr(e), None

# ---- 413 and 503 to clients that write the whole body first ---------------------------------
drained = b'[{"Body":"' + b"x" * (2 << 20) + b'"}]'     # 2 MB: read and dropped, then 413
lingered = b'[{"Body":"' + b"x" * (6 << 20) + b'"}]'    # 6 MB: 413 at once, closed lingeringly
busy = b'[{"Body":"' + b"b" * 1040000 + b'"}]'  # under max_publication; with the connection's
                                                 # pool, over max_inflight
kept = 0
for i in range(20):
    s, st, h = raw_whole_body("/events/messages", drained)
    check(st == 413, "raw 2 MB body, try %d: %s %s" % (i, st, h))
    if st == 413:
        st2 = good_on(s, kept)
        check(st2 == 201, "a send on the connection after a drained 413, try %d: %s" % (i, st2))
        kept += st2 == 201
    s and s.close()
    s, st, h = raw_whole_body("/events/messages", lingered)
    check(st == 413 and h.get("connection") == "close",
          "raw 6 MB body, try %d: %s %s" % (i, st, h))
    s and s.close()
    s, st, h = raw_whole_body("/events/messages", busy)
    check(st == 503 and h.get("retry-after") == "1", "raw busy body, try %d: %s %s" % (i, st, h))
    if st == 503:
        st2 = good_on(s, kept)
        check(st2 == 201, "a send on the connection after a 503, try %d: %s" % (i, st2))
        kept += st2 == 201
    s and s.close()
    for name, fn in (("http.client", client_status), ("urllib", urllib_status)):
        st, _ = fn(drained)
        check(st == 413, "%s 2 MB body, try %d: %s" % (name, i, st))
        st, _ = fn(lingered)
        check(st == 413, "%s 6 MB body, try %d: %s" % (name, i, st))
        st, ra = fn(busy)
        check(st == 503 and ra == "1", "%s busy body, try %d: %s %s" % (name, i, st, ra))
print("413 (2 MB and 6 MB bodies) and 503 with Retry-After, 20 times each by raw sockets, "
      "http.client and urllib", flush=True)

# ---- refusals keep the connection: a pipelined good send behind each ------------------------
def pipelined(first, want, n):
    good = b'[{"Body":"PIPE-%d"}]' % n
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(first + head("/events/messages", len(good)) + good)
    except OSError as e:
        pass  # read what came back anyway
    st1, _, rest = read_answer(s)
    st2 = read_answer(s, rest)[0] if st1 else None
    s.close()
    check(st1 == want and st2 == 201, "pipelined after a %d: got %s then %s" % (want, st1, st2))

body = b'[{"Body":"HOSTILE"}]'
pipelined(head("/events/messages", len(body), auth="SharedAccessSignature sr=x") + body, 401, 0)
pipelined(head("/nohub/messages", len(body)) + body, 404, 1)
pipelined(("PUT /events/messages HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" %
           len(body)).encode() + body, 405, 2)
pipelined(head("/events/messages", 9) + b"not json!", 400, 3)
pipelined(head("/events/messages", len(drained)) + drained, 413, 4)
pipelined(("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)).encode()
          + body, 405, 5)
pipelined(b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n", 404, 6)
pipelined(b"GET /healthz HTTP/1.1\r\n\r\n", 400, 7)
pipelined(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, 8)
print("401, 404, 405, 400, 413, a POST to /healthz, a GET of nothing, a GET without Host and a "
      "GET /healthz, each with a good send pipelined behind: both answered", flush=True)

# ---- framing ---------------------------------------------------------------------------------
def one(req):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(req)
    except OSError:
        pass
    st, h, _ = read_answer(s)
    s.close()
    return st, h

for te, want in (("gzip", 501), ("gzip, chunked", 501), ("compress", 501)):
    st, h = one(("POST /events/messages HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                 "Transfer-Encoding: %s\r\n\r\nHOSTILE" % (tok, te)).encode())
    check(st == want and h.get("connection") == "close", "Transfer-Encoding %s: %s %s" % (te, st, h))
st, h = one(head("/events/messages", 5, extra="Content-Length: 0\r\n") + b"HOSTI")
check(st == 400 and h.get("connection") == "close", "two Content-Lengths: %s %s" % (st, h))
st, h = one(head("/events/messages", 7, extra="Transfer-Encoding: chunked\r\n") + b"HOSTILE")
check(st == 400 and h.get("connection") == "close", "Content-Length and chunked: %s %s" % (st, h))
st, h = one(b"GET /healthz HTTP/1.1\r\n\r\n")
check(st == 400, "HTTP/1.1 without Host: %s" % st)
st, h = one(b"GET /healthz HTTP/1.0\r\n\r\n")
check(st == 200, "HTTP/1.0 without Host: %s" % st)
print("Transfer-Encoding gzip 501, two Content-Lengths 400, Content-Length with chunked 400, "
      "HTTP/1.1 without Host 400", flush=True)

# ---- slow clients: 16 connections (the limit) sending a byte a second ----------------------
stop = threading.Event()
def trickle(s):
    for b in b"POST /events/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"y" * 100:
        if stop.is_set():
            return
        try:
            s.send(bytes([b]))
        except OSError:
            return
        time.sleep(1)
slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
threads = [threading.Thread(target=trickle, args=(s,), daemon=True) for s in slow]
for t in threads:
    t.start()
time.sleep(0.5)
t0 = time.time()
st, _ = client_status(b'[{"Body":"AFTER-SLOW"}]')
took = time.time() - t0
check(st == 201, "a send while 16 connections trickle bytes: %s after %.1f s" % (st, took))
print("a send while 16 slow connections held the limit: %s after %.1f s" % (st, took), flush=True)
# a body that stops coming
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(head("/events/messages", 1000) + b'[{"Body":"')
s.settimeout(10)
try:
    gone = s.recv(100) == b""
except OSError:
    gone = True
check(gone, "a stalled body: the connection was not closed")
s.close()
stop.set()
for s in slow:
    s.close()
if failures:
    sys.exit("%d failures" % len(failures))
PY
ok "413, 503, pipelining, framing and slow clients (see above)"

heads=$(rx_metric 'hubcap_receiver_http_deadline_closed_total{phase="headers"}')
bodies=$(rx_metric 'hubcap_receiver_http_deadline_closed_total{phase="body"}')
lingering=$(rx_metric hubcap_receiver_http_lingering_closes_total)
[ "$heads" -ge 16 ] || fail "connections closed by header_timeout: $heads, want at least 16"
[ "$bodies" -ge 1 ] || fail "connections closed by body_timeout: $bodies, want at least 1"
[ "$lingering" -ge 60 ] || fail "lingering closes: $lingering, want at least 60 (the 6 MB bodies)"
ok "/metrics: $heads closed by header_timeout, $bodies by body_timeout, $lingering lingering closes"
[ "$(rx_metric 'hubcap_receiver_requests_total{code="501"}')" -eq 3 ] || fail "501s counted"

# every connection is gone: nothing stays charged against max_inflight
for _ in $(seq 1 50); do
  [ "$(rx_metric hubcap_receiver_inflight_bytes)" = 0 ] && break
  sleep 0.1
done
[ "$(rx_metric hubcap_receiver_inflight_bytes)" = 0 ] ||
  fail "inflight bytes with no connection: $(rx_metric hubcap_receiver_inflight_bytes)"
ok "nothing left charged against max_inflight"

rx_stop
grep -q "AddressSanitizer\|runtime error" "$RX_LOG" && fail "sanitizer report in the receiver log"
"$PY" - "$cap" <<'PY' || exit 1
import glob, sys
import avro.datafile, avro.io
bodies = []
for path in glob.glob(sys.argv[1] + "/**/*.avro", recursive=True):
    bodies += [r["Body"] or b"" for r in avro.datafile.DataFileReader(open(path, "rb"), avro.io.DatumReader())]
if any(b"HOSTILE" in b or b.startswith(b"xxxx") or b.startswith(b"bbbb") for b in bodies):
    sys.exit("FAIL: a refused request reached the capture")
pipes = sorted(b for b in bodies if b.startswith(b"PIPE-"))
if pipes != [b"PIPE-%d" % i for i in range(9)]:
    sys.exit(f"FAIL: pipelined good sends captured: {pipes}")
kept = [b for b in bodies if b.startswith(b"KEPT-")]
if len(kept) != 40 or bodies.count(b"AFTER-SLOW") != 1:
    sys.exit(f"FAIL: {len(kept)} sends on kept connections captured (want 40), "
             f"AFTER-SLOW {bodies.count(b'AFTER-SLOW')} times")
PY
ok "the pipelined and kept-connection sends are captured, no refused one is"
