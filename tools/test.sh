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
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"

echo "== build with ASan/UBSan ($asan)"
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DHUBCAP_SANITIZE=ON >/dev/null
cmake --build "$asan" -j "$jobs"

echo "== unit tests under ASan/UBSan"
(cd "$asan" && ASAN_OPTIONS=detect_leaks=1 ctest -L unit --output-on-failure -j "$jobs")

echo "== the receiver's lake (loop, promotion), API and ingest, and the fleet, under ASan/UBSan"
(cd "$asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure \
  -R 'integration/(test_api|test_lake_serve|test_lake_pipeline|test_receiver_ingest|test_receiver_http|test_fleet)$')

echo "== all tests"
(cd "$build" && ctest --output-on-failure "$@")
