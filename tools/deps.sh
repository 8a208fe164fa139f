#!/usr/bin/env bash
# tools/deps.sh - install the Debian packages hubcap needs, only those missing.
# Sourced or run by tools/test.sh and tools/demo.sh. Needs root (or sudo) only when something is missing.
set -euo pipefail

HUBCAP_DEB_PACKAGES=(
  build-essential cmake pkg-config git
  liblmdb-dev lmdb-utils libmbedtls-dev libcjson-dev libinih-dev zlib1g-dev libcmocka-dev
  libcurl4-openssl-dev libqpid-proton11-dev
  openssl curl wrk
  libmicrohttpd-dev libavro-dev libpq-dev postgresql
  python3 python3-avro python3-azure
  chromium
  libpaho-mqtt-dev mosquitto mosquitto-clients
  clang libclang-rt-14-dev
  libsystemd-dev systemd
  gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user qemu-user-static binfmt-support debootstrap
)

missing=()
for p in "${HUBCAP_DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || { echo "deps: apt-get update failed: check the network or the apt sources" >&2; exit 1; }
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    { echo "deps: could not install ${missing[*]}" >&2; exit 1; }
fi
