#!/usr/bin/env bash
# test_board_package: the board build's .deb (hubcap-agent only: the receiver is not cross-built),
# as a board would install it. debootstrap --foreign makes an arm64/armhf tree, but its second
# stage runs the target's programs (dpkg, maintainer scripts) through exec, which needs qemu
# registered in binfmt_misc (host-wide): not done here. So the package is unpacked with dpkg-deb
# -x into a temp root, beside the .deb its qpid-proton dependency comes from (tools/cross.sh
# downloaded it), and the installed /usr/bin/hubcap-agent runs under qemu-user with the target's
# libraries: --version, then generate and ship to the host build's receiver over each transport,
# every event in capture once. Also: the package itself (Architecture, stripped, units,
# conffile, every NEEDED library's package in Depends) and dpkg --root over a copy of this
# system's database, where the one Depends not installed here is qpid-proton's (the overlay).
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/deb.sh"
command -v cpack > /dev/null && command -v dpkg-deb > /dev/null || skip "no cpack / dpkg-deb"
case ${HC_ARCH:-} in
  aarch64) debarch=arm64 triplet=aarch64-linux-gnu ;;
  armv7l) debarch=armhf triplet=arm-linux-gnueabihf ;;
  *) skip "not a board build (HC_ARCH '${HC_ARCH:-}')" ;;
esac
[ -x "${HC_HOST_BIN:-}/hubcap-receiver" ] || skip "no host receiver in ${HC_HOST_BIN:-HC_HOST_BIN} (build the host first)"
ver=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$HC_BUILD/CMakeCache.txt")

deb_make "$HC_BUILD"
deb=$DEB_DIR/hubcap-agent_${ver}_$debarch.deb
[ -f "$deb" ] || fail "no $(basename "$deb"): $(ls "$DEB_DIR")"
[ -z "$(ls "$DEB_DIR"/hubcap-receiver_* 2> /dev/null)" ] || fail "a board build made a receiver package"
deb_inspect "$deb" "$debarch" "$triplet"
file "$DEB_X/usr/bin/hubcap-agent" | grep -q "$( [ $debarch = arm64 ] && echo 'ARM aarch64' || echo 'ARM, EABI5')" ||
  fail "not a $debarch program: $(file "$DEB_X/usr/bin/hubcap-agent")"

# dpkg --root: every Depends satisfied by this system's :$debarch packages but qpid-proton's
R=$T/root
deb_root "$R"
if dpkg --root="$R" -i "$deb" > "$T/dpkg.log" 2>&1; then
  unmet=""
else
  unmet=$(sed -n 's/^ hubcap-agent:[a-z0-9]* depends on \([^;. ]*\).*/\1/p' "$T/dpkg.log" | sort -u | tr '\n' ' ')
fi
case "$unmet" in
  "" | "libqpid-proton11 ") ;;
  *) fail "dpkg --root: unmet Depends beyond qpid-proton's: $unmet ($(grep -v 'files list file' "$T/dpkg.log" | tail -5))" ;;
esac
ok "dpkg --root: Depends satisfied by this system's $debarch packages${unmet:+ except $unmet(unpacked into the overlay, not installed)}"

# the board's tree: the package and its qpid-proton, unpacked; the rest of Depends from the
# target's multiarch libraries here (/lib/$triplet, as on the board)
B=$T/board
dpkg-deb -x "$deb" "$B"
for d in "$HC_BUILD"/debs/libqpid-proton11_*.deb; do [ -f "$d" ] && dpkg-deb -x "$d" "$B"; done
read -r -a EMU <<< "${HC_EMU:-}"
agent() { "${EMU[@]}" -E "LD_LIBRARY_PATH=$B/usr/lib/$triplet" "$B/usr/bin/hubcap-agent" "$@"; }
v=$(agent --version) || fail "the installed agent does not run under ${EMU[*]}"
[ "$v" = "hubcap-agent $ver" ] || fail "--version: '$v'"
ok "$B/usr/bin/hubcap-agent under ${EMU[0]}: $v"
agent run -c "$B/etc/hubcap/hubcap-agent.conf" --check > "$T/check.out" || fail "the installed config: $(cat "$T/check.out")"

HC_BIN_BOARD=$HC_BIN
HC_BIN=$HC_HOST_BIN # the receiver (and its --help for the transports) is the host build's
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
HC_BIN=$HC_BIN_BOARD
RX_CAP=$T/cap
rx_start --capture "$RX_CAP" "${rx_amqp_args[@]+"${rx_amqp_args[@]}"}"
deb_round_trip 300
ok "$(basename "$deb"): $(stat -c %s "$deb") bytes, installed size $(deb_field "$deb" Installed-Size) KiB"
tp_finish
