#!/usr/bin/env bash
# tools/test.sh - install what is missing, build (normal and ASan/UBSan), run every test.
#   tools/test.sh            everything
#   tools/test.sh -L unit    only tests with a ctest label (passed to ctest)
#   HUBCAP_TEST_BOARDS="aarch64 armhf" tools/test.sh   the armhf board set too (below)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tools/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
build=${HUBCAP_BUILD:-$top/build}
asan=${HUBCAP_BUILD_ASAN:-$top/build-asan}

echo "== build ($build)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUBCAP_TEST_HOOKS=ON >/dev/null
cmake --build "$build" -j "$jobs"

echo "== build with ASan/UBSan ($asan)"
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DHUBCAP_SANITIZE=ON -DHUBCAP_TEST_HOOKS=ON >/dev/null
cmake --build "$asan" -j "$jobs"

# Each transport is a build option: a board build without one must still link and pass its
# tests (about a minute on 2 cores; HUBCAP_TEST_OPTIONS=0 skips it).
if [ "${HUBCAP_TEST_OPTIONS:-1}" != 0 ]; then
  for opt in HTTPS AMQP MQTT; do
    ob="$build-no-${opt,,}"
    echo "== build with HUBCAP_WITH_$opt=OFF ($ob), its unit tests"
    cmake -S . -B "$ob" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUBCAP_WITH_$opt=OFF \
      -DHUBCAP_WITH_RECEIVER=OFF > /dev/null
    cmake --build "$ob" -j "$jobs" > "$ob/build.log" 2>&1 || { tail -20 "$ob/build.log"; exit 1; }
    (cd "$ob" && ctest -L unit --output-on-failure -j "$jobs")
  done
fi

echo "== unit tests under ASan/UBSan"
(cd "$asan" && ASAN_OPTIONS=detect_leaks=1 ctest -L unit --output-on-failure -j "$jobs")

echo "== the receiver's lake (loop, promotion), API and ingest, and the fleet, under ASan/UBSan"
(cd "$asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure \
  -R 'integration/(test_api|test_lake_serve|test_lake_pipeline|test_receiver_ingest|test_receiver_http|test_fleet)$')

# Board sets (boards/README.md): the agent cross-built by tools/cross.sh (Debian's cross
# compilers; what is missing is installed, everything else stays in the build folder), its unit
# tests and tests/boards under qemu-user against this build's receiver. HUBCAP_TEST_BOARDS: the
# architectures, default aarch64; "aarch64 armhf" adds armhf (about 3 more minutes), empty skips.
for arch in ${HUBCAP_TEST_BOARDS-aarch64}; do
  bb="$build-$arch"
  t0=$SECONDS
  echo "== board set $arch ($bb): cross build, unit tests and tests/boards under qemu-user"
  mkdir -p "$bb"
  HUBCAP_JOBS=$jobs bash tools/cross.sh "$arch" --build "$bb" -- -DHC_HOST_BIN="$build/bin" \
    > "$bb/cross.log" 2>&1 || { tail -20 "$bb/cross.log"; exit 1; }
  (cd "$bb" && ctest --output-on-failure -j "$jobs" "$@")
  echo "board set $arch: $((SECONDS - t0)) s"
done

# Fuzz smoke: every libFuzzer target (tests/fuzz/, clang, ASan/UBSan) for a few seconds from its
# corpus (HUBCAP_FUZZ_SECONDS each, default 10; 0 skips it), in the background while the tests
# run: they mostly wait on servers and leave a core idle. tools/fuzz.sh runs them longer.
fuzz_secs=${HUBCAP_FUZZ_SECONDS:-10}
fuzz_log="$build/fuzz-smoke.log"
fuzz_pid=
if [ "$fuzz_secs" != 0 ]; then
  echo "== fuzz smoke ($fuzz_secs s per target) in the background: $fuzz_log"
  (
    t0=$SECONDS
    rc=0
    bash tools/fuzz.sh "$fuzz_secs" > "$fuzz_log" 2>&1 || rc=$?
    echo "fuzz smoke: $((SECONDS - t0)) s" >> "$fuzz_log"
    exit $rc
  ) &
  fuzz_pid=$!
fi

echo "== all tests"
tests_rc=0
(cd "$build" && ctest --output-on-failure "$@") || tests_rc=$?

fuzz_rc=0
if [ -n "$fuzz_pid" ]; then
  wait "$fuzz_pid" || fuzz_rc=$?
  echo "== fuzz smoke"
  cat "$fuzz_log"
  [ $fuzz_rc -eq 0 ] || echo "FAIL: the fuzz smoke found a crash, a leak or a timeout (see above)"
fi
[ $tests_rc -eq 0 ] && [ $fuzz_rc -eq 0 ]
