#!/usr/bin/env bash
# Runs every cargo-fuzz target of the repository for N seconds each, all at once at nice 19,
# then prints what each did: executions, exec/s, coverage, corpus size and crashes.
#
#   fuzz/run.sh [seconds]          (default 60; the campaign runs 3600)
#
# Targets: fuzz/ (ical, whatsapp, mercadopago, email, public_json) and crates/nlu/fuzz (analyze).
# Each starts from its seeds (fuzz/seeds/<target>, crates/nlu/fuzz/seeds/analyze, kept in git)
# and grows a working corpus in $FUZZ_WORK (default fuzz/work, ignored by git) that later runs
# reuse. A crash leaves its input in $FUZZ_WORK/artifacts/<target>/ and the script exits 1.
# Reproduce one with: fuzz/target/x86_64-unknown-linux-gnu/release/<target> <file>
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); builds with the stable toolchain and
# RUSTC_BOOTSTRAP=1 (or set FUZZ_TOOLCHAIN=+nightly). No sanitizer (the code under test is safe
# Rust: a panic, an overflow or an assertion is what we look for), debug assertions on.
set -euo pipefail

secs=${1:-60}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${FUZZ_WORK:-$repo/fuzz/work}
toolchain=${FUZZ_TOOLCHAIN:-}
export RUSTC_BOOTSTRAP=1
flags=(-s none -a)
triple=$(rustc -vV | sed -n 's/^host: //p')

# name  crate-dir  extra libFuzzer flags
targets=(
  "ical fuzz"
  "whatsapp fuzz"
  "mercadopago fuzz"
  "email fuzz"
  "public_json fuzz"
  "analyze crates/nlu/fuzz -max_len=512"
)

# Same dependency versions as the main workspace.
[ -f "$repo/fuzz/Cargo.lock" ] || cp "$repo/Cargo.lock" "$repo/fuzz/Cargo.lock"
# FUZZ_NO_BUILD=1 runs the binaries already built (the server crate rebuilds after every commit:
# its build script records the commit).
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  for dir in fuzz crates/nlu/fuzz; do
    echo "== building $dir" >&2
    (cd "$repo/$dir" && nice -n 19 cargo $toolchain fuzz build --fuzz-dir . "${flags[@]}" >&2)
  done
fi

mkdir -p "$work/logs"
pids=()
for t in "${targets[@]}"; do
  read -r name dir extra <<<"$t"
  mkdir -p "$work/corpus/$name" "$work/artifacts/$name"
  bin="$repo/$dir/target/$triple/release/$name"
  echo "== $name: ${secs}s" >&2
  # The first corpus directory gets the new inputs; the seeds are only read.
  (
    start=$(date +%s)
    rc=0
    nice -n 19 "$bin" "$work/corpus/$name" "$repo/$dir/seeds/$name" \
      -max_total_time="$secs" -timeout=30 -rss_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/$name/" ${extra:-} >"$work/logs/$name.log" 2>&1 || rc=$?
    # Wall-clock seconds (a crash stops a target early), then libFuzzer's exit code.
    echo "$(($(date +%s) - start)) $rc" >"$work/logs/$name.time"
    exit "$rc"
  ) &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done

printf '\n%-12s %8s %12s %8s %6s %6s %7s %8s\n' target seconds executions exec/s cov ft corpus crashes
crashes_total=0
for t in "${targets[@]}"; do
  read -r name _ <<<"$t"
  log="$work/logs/$name.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  read -r took _ <"$work/logs/$name.time"
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(find "$work/corpus/$name" -type f | wc -l)
  crashes=$(find "$work/artifacts/$name" -type f | wc -l)
  crashes_total=$((crashes_total + crashes))
  rate=$(( ${runs:-0} / (took > 0 ? took : 1) ))
  printf '%-12s %8s %12s %8s %6s %6s %7s %8s\n' "$name" "$took" "${runs:-?}" "$rate" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes"
done
echo "logs: $work/logs   crashes: $work/artifacts/<target>/"
if [ "$failed" -ne 0 ] || [ "$crashes_total" -ne 0 ]; then exit 1; fi
