#!/usr/bin/env bash
# tools/fuzz.sh - build the libFuzzer targets (tests/fuzz/, clang, ASan/UBSan) and run each.
#   tools/fuzz.sh [SECONDS] [TARGET...]   each target (all by default: json, batch, ...) for
#                                          SECONDS (default 20) from its corpus
# Environment:
#   HUBCAP_FUZZ_BUILD   build folder (default build-fuzz)
#   HUBCAP_FUZZ_RUNS    stop each target after this many executions instead (SECONDS is then
#                       a time limit, 0 for none), e.g. HUBCAP_FUZZ_RUNS=10000000 tools/fuzz.sh 0
#   HUBCAP_FUZZ_ARGS    more libFuzzer flags (e.g. "-jobs=2 -workers=2")
# Seeds are read from tests/fuzz/corpus/<target>/ (not written); what a run finds goes to
# $HUBCAP_FUZZ_BUILD/corpus/<target>/ and is read again by the next run; logs to .../logs/.
# Prints one line per target: executions, coverage (cov: edges, ft: features), corpus size,
# seconds, and for a crash, leak or timeout the reproducer (run the target on it to see the trace;
# keep it under tests/fuzz/corpus/<target>/ once fixed). Exits 1 when any target found one.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-20}
[ $# -gt 0 ] && shift
build=${HUBCAP_FUZZ_BUILD:-$top/build-fuzz}
runs=${HUBCAP_FUZZ_RUNS:-}

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DHUBCAP_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
mkdir -p "$build/logs" "$build/crashes"
cmake --build "$build" -j 2 --target fuzz > "$build/logs/build.log" 2>&1 ||
  { tail -30 "$build/logs/build.log"; exit 1; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build"/bin/fuzz_*; do targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi

# a smaller quarantine than ASan's 256 MB: the machine is shared
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=32:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
start=$SECONDS
printf '%-16s %12s %7s %7s %8s %6s  %s\n' target execs cov ft corpus secs result
for t in "${targets[@]}"; do
  exe="$build/bin/fuzz_$t"
  [ -x "$exe" ] || { echo "no target fuzz_$t (tests/fuzz/CMakeLists.txt)"; failed=1; continue; }
  seeds="$top/tests/fuzz/corpus/$t"
  work="$build/corpus/$t"
  mkdir -p "$work"
  args=(-print_final_stats=1 -artifact_prefix="$build/crashes/$t-" -max_total_time="$secs")
  [ -n "$runs" ] && args+=(-runs="$runs")
  [ -f "$top/tests/fuzz/$t.dict" ] && args+=(-dict="$top/tests/fuzz/$t.dict")
  log="$build/logs/$t.log"
  t0=$SECONDS
  rc=0
  # shellcheck disable=SC2086
  "$exe" "${args[@]}" ${HUBCAP_FUZZ_ARGS:-} "$work" $( [ -d "$seeds" ] && echo "$seeds" ) \
    > "$log" 2>&1 || rc=$?
  took=$((SECONDS - t0))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  line=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$line")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<< "$line")
  if [ "$rc" = 0 ]; then
    result=ok
  else
    failed=1
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    kind=$(grep -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error|check failed' "$log" | head -1 || true)
    result="FAILED (${kind:-exit $rc}): ${repro:-see $log}"
  fi
  printf '%-16s %12s %7s %7s %8s %6s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$took" "$result"
done
echo "fuzz: ${#targets[@]} targets in $((SECONDS - start)) s$([ $failed = 0 ] || echo ', FAILED')"
exit $failed
