# tests/lib/deb.sh - sourced (after tests/lib/common.sh) by the package tests: build a build's
# .deb packages with cpack into $T, look inside them, install them into a private dpkg root,
# and ship through an installed agent.
#
#   deb_make BUILD                  cpack BUILD's packages into $T/debs; DEB_DIR
#   deb_inspect DEB DEBARCH TRIPLET the package's control fields, files, conffile and Depends
#   deb_root ROOT                   a dpkg root whose database is a copy of this system's: the
#                                   package's Depends are checked against what is installed here
#   deb_round_trip                  generate, ship to a receiver, find every event in capture;
#                                   runs `agent` (defined by the test) and the receiver $RX

# deb_make BUILD: its .deb packages (cpack, staging and output under $T/debs)
deb_make() {
  DEB_DIR=$T/debs
  mkdir -p "$DEB_DIR"
  cpack --config "$1/CPackConfig.cmake" -B "$DEB_DIR" > "$T/cpack.log" 2>&1 ||
    fail "cpack: $(tail -20 "$T/cpack.log")"
}

# deb_field DEB FIELD
deb_field() { dpkg-deb -f "$1" "$2"; }

# deb_inspect DEB DEBARCH TRIPLET: one package (hubcap-agent or hubcap-receiver), as a board's
# dpkg would see it
deb_inspect() {
  local deb=$1 arch=$2 triplet=$3 pkg x
  pkg=$(deb_field "$deb" Package)
  [ "$(deb_field "$deb" Architecture)" = "$arch" ] || fail "$deb: Architecture $(deb_field "$deb" Architecture), want $arch"
  x=$T/x-$pkg-$arch
  rm -rf "$x" && mkdir -p "$x"
  dpkg-deb -x "$deb" "$x"
  dpkg-deb -e "$deb" "$x/DEBIAN"
  [ -x "$x/usr/bin/$pkg" ] || fail "$pkg: no /usr/bin/$pkg"
  file "$x/usr/bin/$pkg" | grep -q stripped || fail "$pkg: /usr/bin/$pkg: $(file "$x/usr/bin/$pkg")"
  file "$x/usr/bin/$pkg" | grep -q ', not stripped' && fail "$pkg: /usr/bin/$pkg is not stripped"
  grep -qx "/etc/hubcap/$pkg.conf" "$x/DEBIAN/conffiles" || fail "$pkg: /etc/hubcap/$pkg.conf is not a conffile"
  [ "$(stat -c %a "$x/etc/hubcap/$pkg.conf")" = 600 ] || fail "$pkg: /etc/hubcap/$pkg.conf is not 0600"
  grep -q "^ExecStart=/usr/bin/$pkg " "$x/lib/systemd/system/$pkg.service" ||
    fail "$pkg: its unit does not run /usr/bin/$pkg"
  [ -f "$x/usr/share/doc/$pkg/examples/$pkg.conf" ] || fail "$pkg: no example config"
  # every library the program needs comes from a package it depends on
  local deps needed so owner
  deps=" $(deb_field "$deb" Depends | sed 's/([^)]*)//g; s/,/ /g') "
  needed=$(LC_ALL=C readelf -d "$x/usr/bin/$pkg" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  [ -n "$needed" ] || fail "$pkg: no NEEDED libraries read"
  for so in $needed; do
    owner=$(dpkg -S "*/$triplet/$so" 2> /dev/null | head -1 | cut -d: -f1 || true)
    if [ -z "$owner" ]; then # not installed here (qpid-proton's overlay): the .deb it came from
      for d in "${HC_BUILD:-}"/debs/*.deb; do
        [ -f "$d" ] && grep -Eq "/$so( -> |\$)" <<< "$(dpkg-deb -c "$d")" && owner=$(deb_field "$d" Package)
      done
    fi
    [ -n "$owner" ] || fail "$pkg: no package here provides $so"
    [[ "$deps" == *" $owner "* ]] || fail "$pkg needs $so ($owner) but Depends is: $deps"
  done
  DEB_X=$x
  ok "$pkg ($arch): $(stat -c %s "$deb") bytes, Depends: $(deb_field "$deb" Depends)"
}

# deb_root ROOT: an empty tree with a dpkg database copied from this system's
deb_root() {
  mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates" "$1/var/lib/dpkg/triggers"
  cp /var/lib/dpkg/status "$1/var/lib/dpkg/status"
  [ -f /var/lib/dpkg/arch ] && cp /var/lib/dpkg/arch "$1/var/lib/dpkg/arch"
  return 0
}

# deb_round_trip N: N events generated into a buffer by `agent`, shipped --once over each of
# TRANSPORTS to the receiver (rx_start from tests/lib/receiver.sh, run by the caller), then the
# receiver stopped: every event the agent buffered is in a closed capture file, once.
deb_round_trip() {
  local n=$1 tp
  CS=$(grep '^Endpoint=' "$RX_OUT")
  : > "$T/rt.ids"
  for tp in "${TRANSPORTS[@]}"; do
    agent generate -b "$T/rt-$tp" --count "$n" --seed 7 --device-id "deb-$tp" -q ||
      fail "generate into the buffer"
    agent dump -b "$T/rt-$tp" | "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["event_id"])' >> "$T/rt.ids"
    agent ship -b "$T/rt-$tp" --once -q --transport "$tp" -s "$(cs_of "$tp")" 2> "$T/rt-$tp.err" ||
      fail "ship --once over $tp: $(tail -5 "$T/rt-$tp.err")"
    [ "$(json_get "$(agent status -b "$T/rt-$tp" --json)" queued_events)" = 0 ] ||
      fail "events left queued after ship over $tp"
  done
  rx_stop
  "$PY" "$HC_SRC/tests/lib/capture_events.py" "$RX_CAP" > "$T/rt.captured"
  "$PY" - "$T/rt.ids" "$T/rt.captured" << 'PY' || fail "round trip: capture does not hold what was shipped"
import collections, json, sys
want = [l.strip() for l in open(sys.argv[1]) if l.strip()]
got = collections.Counter(json.loads(l)["event_id"] for l in open(sys.argv[2]))
missing = [i for i in want if got[i] == 0]
dup = [i for i, c in got.items() if c > 1]
assert not missing and not dup and len(got) == len(want), (len(want), len(got), missing[:3], dup[:3])
PY
  ok "round trip: $(wc -l < "$T/rt.ids") events generated, shipped over ${TRANSPORTS[*]}, each in capture once"
}
