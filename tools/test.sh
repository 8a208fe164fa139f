#!/usr/bin/env bash
# tools/test.sh - install what is missing, build (normal and ASan/UBSan), run every test.
#   tools/test.sh            everything
#   tools/test.sh -L unit    only tests with a ctest label (passed to ctest)
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

# Fuzz smoke: every libFuzzer target (tests/fuzz/, clang, ASan/UBSan) for a few seconds from its
# corpus (HUBCAP_FUZZ_SECONDS each, default 10; 0 skips it). tools/fuzz.sh runs them longer.
if [ "${HUBCAP_FUZZ_SECONDS:-10}" != 0 ]; then
  echo "== fuzz smoke (${HUBCAP_FUZZ_SECONDS:-10} s per target)"
  fuzz_t0=$SECONDS
  bash tools/fuzz.sh "${HUBCAP_FUZZ_SECONDS:-10}"
  echo "fuzz smoke: $((SECONDS - fuzz_t0)) s"
fi

echo "== all tests"
(cd "$build" && ctest --output-on-failure "$@")
