#!/usr/bin/env bash
# test_package_deb: the host build's .deb packages (cpack: hubcap-agent, hubcap-receiver), never
# installed into this system: looked into (architecture, stripped programs, units, conffiles
# 0600, every NEEDED library's package in Depends), installed with `dpkg --root` into a private
# root whose database is a copy of this system's (so dpkg itself checks that Depends are
# satisfiable here), an edited conffile kept by a reinstall, removed (conffile stays) and purged;
# and the installed programs round-trip: the packaged agent generates and ships to the packaged
# receiver, over each transport, every event lands in capture once.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/deb.sh"
build=${HC_BUILD:-$HC_SRC/build}
command -v cpack > /dev/null && command -v dpkg-deb > /dev/null || skip "no cpack / dpkg-deb"
[ -x "$HC_BIN/hubcap-receiver" ] || skip "no receiver in this build"
arch=$(dpkg --print-architecture)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2> /dev/null || gcc -print-multiarch)
ver=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")

deb_make "$build"
for p in hubcap-agent hubcap-receiver; do
  [ -f "$DEB_DIR/${p}_${ver}_$arch.deb" ] || fail "no ${p}_${ver}_$arch.deb: $(ls "$DEB_DIR")"
  deb_inspect "$DEB_DIR/${p}_${ver}_$arch.deb" "$arch" "$triplet"
done
dpkg-deb -c "$DEB_DIR/hubcap-agent_${ver}_$arch.deb" | grep -q hubcap-receiver &&
  fail "the agent's package carries the receiver"
grep -q "libmicrohttpd\|libpq" <<< "$(deb_field "$DEB_DIR/hubcap-agent_${ver}_$arch.deb" Depends)" &&
  fail "the agent's package depends on receiver libraries"
if grep -q '^HUBCAP_WITH_SYSTEMD:BOOL=ON' "$build/CMakeCache.txt"; then
  deb_field "$DEB_DIR/hubcap-agent_${ver}_$arch.deb" Depends | grep -q libsystemd0 ||
    fail "built with libsystemd but no libsystemd0 in Depends"
fi

# dpkg --root: Depends resolved against this system's packages (no --force-depends)
R=$T/root
deb_root "$R"
dpkg --root="$R" -i "$DEB_DIR"/hubcap-agent_"${ver}"_$arch.deb "$DEB_DIR"/hubcap-receiver_"${ver}"_$arch.deb \
  > "$T/dpkg.log" 2>&1 || fail "dpkg --root -i: $(grep -v 'files list file' "$T/dpkg.log" | tail)"
for p in hubcap-agent hubcap-receiver; do
  dpkg --root="$R" -s "$p" 2> /dev/null | grep -q '^Status: install ok installed' || fail "$p is not installed in the root"
  dpkg --root="$R" -s "$p" 2> /dev/null | grep -q "^ /etc/hubcap/$p.conf [0-9a-f]" || fail "$p: dpkg has no conffile record"
  [ -x "$R/usr/bin/$p" ] && [ -f "$R/lib/systemd/system/$p.service" ] || fail "$p: files not in the root"
done
echo "device_id = edited-by-admin" >> "$R/etc/hubcap/hubcap-agent.conf"
dpkg --root="$R" -i "$DEB_DIR/hubcap-agent_${ver}_$arch.deb" > "$T/dpkg2.log" 2>&1 < /dev/null ||
  fail "reinstall: $(grep -v 'files list file' "$T/dpkg2.log" | tail)"
grep -q edited-by-admin "$R/etc/hubcap/hubcap-agent.conf" || fail "a reinstall replaced the edited conffile"
ok "dpkg --root: both installed, Depends satisfied by this system's packages, an edited conffile kept"

# the installed programs (this system's libraries: what Depends names)
"$R/usr/bin/hubcap-agent" --version | grep -qx "hubcap-agent $ver" || fail "installed agent --version: $("$R/usr/bin/hubcap-agent" --version)"
"$R/usr/bin/hubcap-receiver" --version | grep -qx "hubcap-receiver $ver" || fail "installed receiver --version"
agent() { "$R/usr/bin/hubcap-agent" "$@"; }
source "$HC_SRC/tests/lib/receiver.sh"
RX=$R/usr/bin/hubcap-receiver
source "$HC_SRC/tests/lib/transports.sh"
RX_CAP=$T/cap
rx_start --capture "$RX_CAP" "${rx_amqp_args[@]+"${rx_amqp_args[@]}"}"
deb_round_trip 500

dpkg --root="$R" -r hubcap-agent > "$T/dpkg3.log" 2>&1 || fail "dpkg -r: $(tail -3 "$T/dpkg3.log")"
[ ! -e "$R/usr/bin/hubcap-agent" ] && [ ! -e "$R/lib/systemd/system/hubcap-agent.service" ] || fail "remove left the program or unit"
[ -f "$R/etc/hubcap/hubcap-agent.conf" ] || fail "remove took the conffile (only purge may)"
dpkg --root="$R" -P hubcap-agent > "$T/dpkg4.log" 2>&1 || fail "dpkg -P: $(tail -3 "$T/dpkg4.log")"
[ ! -e "$R/etc/hubcap/hubcap-agent.conf" ] || fail "purge left the conffile"
ok "remove keeps /etc/hubcap/hubcap-agent.conf, purge takes it"
ok "the $arch packages: $(for d in "$DEB_DIR"/*.deb; do printf '%s %s B, ' "$(basename "$d")" "$(stat -c %s "$d")"; done)"
tp_finish
