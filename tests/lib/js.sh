# tests/lib/js.sh - sourced after tests/lib/common.sh by the tests that drive Azure's own
# JavaScript Event Hubs client (@azure/event-hubs, pinned by tests/js/package-lock.json).
#
#   js_setup    install the pinned client into tests/js/node_modules with `npm ci` unless the
#               install there was made from this very lock file (a stamp holding the lock's
#               SHA-256), under a lock so tests running in parallel install once; skips (77)
#               when node or npm is missing
#   JS_DIR      tests/js (HC_JS_DIR overrides)
#   js_producer ARGS...   node tests/js/producer.js ARGS (see the script)
JS_DIR=${HC_JS_DIR:-$HC_SRC/tests/js}

js_setup() {
  command -v node > /dev/null || skip "no node (the JavaScript client's tests need Node.js)"
  command -v npm > /dev/null || skip "no npm (the JavaScript client's tests install it with npm ci)"
  local want stamp="$JS_DIR/node_modules/.hubcap-lock.sha256"
  want=$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)
  (
    flock 9
    if [ "$(cat "$stamp" 2> /dev/null)" != "$want" ]; then
      (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error) > "$T/npm.log" 2>&1 ||
        { tail -20 "$T/npm.log" >&2; exit 1; }
      echo "$want" > "$stamp"
    fi
  ) 9> "$JS_DIR/.npm-ci.lock" || fail "npm ci in $JS_DIR failed (the log is above)"
}

js_producer() { node "$JS_DIR/producer.js" "$@"; }
