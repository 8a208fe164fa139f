#!/usr/bin/env bash
# tools/cross.sh - cross-build the agent for an ARM board with Debian's cross compilers.
#   tools/cross.sh aarch64|armhf [--transports https,amqp,mqtt] [--build DIR] [-- CMAKE_ARGS...]
# Installs what is missing (the dpkg architecture, the :arm64/:armhf -dev packages; qpid-proton's
# -dev package is not Multi-Arch, so its :arm64/:armhf .debs are unpacked into DIR/overlay instead
# of installed, which would remove the amd64 one), then configures DIR (default build-<arch>)
# with boards/toolchain-<arch>.cmake and HUBCAP_WITH_RECEIVER=OFF and builds it. Without
# --transports every transport this tree has is built (mqtt once HUBCAP_WITH_MQTT exists).
# Then: cd DIR && ctest (the unit tests and tests/boards run the agent under qemu-user).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
usage() { echo "usage: tools/cross.sh aarch64|armhf [--transports https,amqp,mqtt] [--build DIR] [-- CMAKE_ARGS...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
arch=$1; shift
case $arch in
  aarch64 | arm64) arch=aarch64 debarch=arm64 triplet=aarch64-linux-gnu ;;
  armhf | arm) arch=armhf debarch=armhf triplet=arm-linux-gnueabihf ;;
  *) usage ;;
esac
has_mqtt=0
grep -q 'option(HUBCAP_WITH_MQTT' "$top/CMakeLists.txt" && has_mqtt=1
transports="https,amqp"
[ $has_mqtt = 1 ] && transports="$transports,mqtt"
build=$top/build-$arch
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --transports) transports=${2:?}; shift 2 ;;
    --transports=*) transports=${1#*=}; shift ;;
    --build) build=${2:?}; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) usage ;;
  esac
done
want() { [[ ",$transports," == *",$1,"* ]]; }
for t in ${transports//,/ }; do
  case $t in https | amqp) ;; mqtt) [ $has_mqtt = 1 ] || { echo "cross: --transports mqtt: this tree has no MQTT transport yet (no HUBCAP_WITH_MQTT)" >&2; exit 2; } ;;
    *) echo "cross: unknown transport '$t' (https, amqp, mqtt)" >&2; exit 2 ;; esac
done

bash "$top/tools/deps.sh" # the host side: cross compilers, qemu-user
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
apt_get() { $SUDO apt-get -o DPkg::Lock::Timeout=600 "$@"; }

# the target's -dev packages (Multi-Arch: same, they install beside the amd64 ones)
pkgs=(liblmdb-dev libcjson-dev libinih-dev libmbedtls-dev zlib1g-dev libcmocka-dev libsystemd-dev)
want https && pkgs+=(libcurl4-openssl-dev)
want amqp && pkgs+=(libssl-dev) # libqpid-proton11 needs libssl3 (its .debs: below)
want mqtt && pkgs+=(libpaho-mqtt-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p:$debarch" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p:$debarch")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! dpkg --print-foreign-architectures | grep -qx "$debarch"; then
    echo "cross: dpkg --add-architecture $debarch" >&2
    $SUDO dpkg --add-architecture "$debarch"
  fi
  echo "cross: installing ${missing[*]}" >&2
  apt_get update -qq
  # a package that would remove an amd64 one is refused (-s first: nothing may go)
  if apt_get install -s --no-install-recommends "${missing[@]}" | grep -q '^Remv'; then
    apt_get install -s --no-install-recommends "${missing[@]}" | grep '^Remv' >&2
    echo "cross: installing ${missing[*]} would remove the packages above; not doing it" >&2
    exit 1
  fi
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# qpid-proton for the target: unpacked, not installed
mkdir -p "$build"
overlay=$build/overlay
if want amqp && [ ! -e "$overlay/usr/lib/$triplet/libqpid-proton.so" ]; then
  ver=$(dpkg-query -W -f='${Version}' libqpid-proton11-dev 2>/dev/null || true)
  debs=$build/debs
  rm -rf "$debs" && mkdir -p "$debs"
  pin=()
  [ -n "$ver" ] && pin=("libqpid-proton11:$debarch=$ver" "libqpid-proton11-dev:$debarch=$ver")
  [ -n "$ver" ] || pin=("libqpid-proton11:$debarch" "libqpid-proton11-dev:$debarch")
  echo "cross: unpacking ${pin[*]} into $overlay" >&2
  (cd "$debs" && apt-get download "${pin[@]}" 2> /dev/null) ||
    (apt_get update -qq && cd "$debs" && apt-get download "${pin[@]}")
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$overlay"; done
fi

opt() { if want "$1"; then echo ON; else echo OFF; fi; }
args=(-DCMAKE_TOOLCHAIN_FILE="$top/boards/toolchain-$arch.cmake" -DHUBCAP_CROSS_OVERLAY="$overlay"
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUBCAP_WITH_RECEIVER=OFF
  -DHUBCAP_WITH_HTTPS="$(opt https)" -DHUBCAP_WITH_AMQP="$(opt amqp)")
[ $has_mqtt = 1 ] && args+=(-DHUBCAP_WITH_MQTT="$(opt mqtt)")
echo "== cross build for $arch ($triplet), transports $transports, in $build"
cmake -S "$top" -B "$build" "${args[@]}" "${extra[@]+"${extra[@]}"}" > "$build/configure.log" ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "${HUBCAP_JOBS:-2}"
file "$build/bin/hubcap-agent" 2> /dev/null || true
