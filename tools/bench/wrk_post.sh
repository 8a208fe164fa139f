# tools/bench/wrk_post.sh - sourced by the ingest benchmarks (ingest.sh, amqp_ingest.sh): the wrk
# script that POSTs Event Hubs batches to a receiver.
#
# wrk_post_lua OUT BODY_DIR NBODIES TOKEN PORT: write to OUT a wrk script that sends the NBODIES
# batches BODY_DIR/body-<i>.json in turn (every event differs, as in real traffic) to
# 127.0.0.1:PORT with the SAS token TOKEN, and at the end prints one line:
#   WRK requests duration_us p50_us p99_us max_us bad_status net_errors
wrk_post_lua() {
  local out=$1 dir=$2 n=$3 token=$4 port=$5
  cat > "$out" << LUA
local reqs = {}
-- wrk.format adds no Host when given headers at load time: HTTP/1.1 needs one (else 400)
local headers = {["Content-Type"] = "application/vnd.microsoft.servicebus.json",
                 ["Authorization"] = "$token", ["Host"] = "127.0.0.1:$port"}
for i = 0, $n - 1 do
  local f = io.open("$dir/body-" .. i .. ".json", "rb")
  reqs[#reqs + 1] = wrk.format("POST", nil, headers, f:read("*a"))
  f:close()
end
local n = 0
request = function()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
}
