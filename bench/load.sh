#!/usr/bin/env bash
# Load bench for Posada: availability and pre-reserve at 1/16/64 connections on SQLite and
# PostgreSQL, server RSS, and N simultaneous same-night holds. Bounded and self-stopping;
# only ever talks to 127.0.0.1. See bench/README.md.
#
#   bench/load.sh                       # everything (release build first)
#   BENCH_ENGINES=sqlite bench/load.sh  # one engine
#
# Knobs (environment):
#   BENCH_ENGINES   "sqlite postgres"   engines to measure
#   BENCH_CONNS     "1 16 64"           connection counts
#   BENCH_ENDPOINTS "availability pre-reserve"   which load cases
#   BENCH_DURATION  10                  seconds per measured case
#   BENCH_WARMUP    2                   seconds of unreported warm-up per endpoint
#   BENCH_UNITS     50                  cabins the pre-reserve load spreads over
#   BENCH_BURST_N   200                 simultaneous same-night holds
#   BENCH_BURSTS    3                   how many such bursts (each on its own night)
#   BENCH_PG_URL    postgres://postgres@127.0.0.1:5432   server to create the bench database on
#   BENCH_SKIP_BUILD 0                  1 = use the existing target/release/posada
#   BENCH_SERVER_ENV ""                 extra VAR=value words for the server (e.g. POSADA_DB_MAX_CONNECTIONS=32)
#   BENCH_PG_SYNC_COMMIT ""             diagnostic: e.g. "off" sets synchronous_commit on the bench database
#   BENCH_MAX_OTHER 25                  a case during which other processes used more than this % of
#   BENCH_RETRIES   2                     one CPU is re-run (at most BENCH_RETRIES times), and before
#   BENCH_QUIET_WAIT 60                   each case we wait (at most this many s) for such a quiet machine
# Needs: cargo, wrk (apt-get install -y wrk), curl, python3, psql (for PostgreSQL).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

ENGINES=${BENCH_ENGINES:-"sqlite postgres"}
CONNS=${BENCH_CONNS:-"1 16 64"}
ENDPOINTS=${BENCH_ENDPOINTS:-"availability pre-reserve"}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
UNITS=${BENCH_UNITS:-50}
BURST_N=${BENCH_BURST_N:-200}
BURSTS=${BENCH_BURSTS:-3}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
SERVER_ENV=${BENCH_SERVER_ENV:-}
PG_SYNC_COMMIT=${BENCH_PG_SYNC_COMMIT:-}
MAX_OTHER=${BENCH_MAX_OTHER:-25}
RETRIES=${BENCH_RETRIES:-2}
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}

die() { echo "load.sh: $*" >&2; exit 1; }

# Only local targets, ever.
case "$PG_URL" in
  postgres://*@127.0.0.1:*|postgres://*@127.0.0.1|postgres://*@localhost:*|postgres://*@localhost) ;;
  *) die "BENCH_PG_URL must point at 127.0.0.1 or localhost (got $PG_URL)" ;;
esac
PG_URL=${PG_URL%/}

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (wrk: apt-get update && apt-get install -y wrk)"
done
case " $ENGINES " in *" postgres "*) command -v psql >/dev/null || die "psql is missing" ;; esac

# The server must see only the configuration this script gives it.
for v in $(compgen -e | grep '^POSADA_' || true); do unset "$v"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/posada-bench.XXXXXX")
server_pid=""
pg_db=""

stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}

drop_db() {
  if [ -n "$pg_db" ]; then
    psql -q -X "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "load.sh: could not drop database $pg_db" >&2
    pg_db=""
  fi
}

cleanup() {
  local rc=$?
  set +e
  stop_server
  drop_db
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$SKIP_BUILD" != 1 ]; then
  echo "# building: cargo build --release -p server" >&2
  (cd "$root" && cargo build --release -p server) >&2
fi
bin="${CARGO_TARGET_DIR:-$root/target}/release/posada"
[ -x "$bin" ] || die "no binary at $bin"

cat "$here/prereserve.lua" "$here/report.lua" >"$work/prereserve.lua"
cp "$here/report.lua" "$work/report.lua"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

json_field() { # json_field FIELD < json
  python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

kib_field() { # kib_field VmHWM → KiB of the running server
  awk -v f="$1:" '$1 == f { print $2 }' "/proc/$server_pid/status"
}

cpu_ticks_machine() { awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5, $6; exit }' /proc/stat; }

# CPU snapshot (clock ticks): server, every postgres process, this shell's waited-for children
# (= wrk and its helpers), then machine total, idle, iowait. Deltas attribute the CPU time of a
# case; what is left over is someone else's work on this machine.
cpu_snapshot() {
  local server pg kids
  server=$(awk '{ print $14 + $15 }' "/proc/$server_pid/stat")
  pg=$( { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" { t += $14 + $15 } END { print t + 0 }')
  kids=$(awk '{ print $16 + $17 }' "/proc/$$/stat")
  echo "$server $pg $kids $(cpu_ticks_machine)"
}

admin_email=bench@posada.invalid
admin_password=bench-password-123456
secret=bench-secret-bench-secret-bench-secret-0123

start_server() { # start_server DATABASE_URL LOGFILE
  port=$(free_port)
  base="http://127.0.0.1:$port"
  # shellcheck disable=SC2086 # SERVER_ENV is a list of VAR=value words
  env POSADA_JWT_SECRET="$secret" POSADA_RATE_LIMIT_PER_MIN=0 POSADA_LOG=warn \
    POSADA_BIND="127.0.0.1:$port" POSADA_DATABASE_URL="$1" POSADA_MAX_HOLDS_PER_CONTACT=0 \
    POSADA_ADMIN_EMAIL="$admin_email" POSADA_ADMIN_PASSWORD="$admin_password" $SERVER_ENV \
    "$bin" serve >/dev/null 2>"$2" &
  server_pid=$!
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$base/api/v1/readyz" 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$2" >&2; die "server exited during start-up"; }
    sleep 0.1
  done
  die "server not ready after 30 s"
}

seed_units() { # prints the created unit ids, one per line
  local token i
  token=$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"email\":\"$admin_email\",\"password\":\"$admin_password\"}" \
    "$base/api/v1/admin/login" | json_field access_token)
  for i in $(seq 1 "$1"); do
    curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
      -d "{\"name\":\"Cabaña $i\",\"capacity\":6,\"base_price\":50000,\"weekend_multiplier\":1.2,\"min_nights\":1}" \
      "$base/api/v1/admin/accommodations" | json_field id
  done
}

count_holds() { # count_holds ENGINE PHONE_PREFIX
  local sql="SELECT count(*) FROM reservations WHERE status = 'pre_reserved' AND guest_phone LIKE '$2%'"
  if [ "$1" = sqlite ]; then
    if command -v sqlite3 >/dev/null; then sqlite3 "$db_file" "$sql"; else echo "?"; fi
  else
    psql -q -X -At "$PG_URL/$pg_db" -c "$sql"
  fi
}

results="$work/results.tsv"
printf 'engine\tendpoint\tconns\treq_s\tp50_ms\tp95_ms\tp99_ms\tmax_ms\tok\tnon2xx\tsock_err\tholds_in_db\tcpu_server\tcpu_pg\tcpu_wrk\tcpu_other\tcpu_busy\tiowait\tvmhwm_mib\n' >"$results"

run_wrk() { # run_wrk ENGINE ENDPOINT CONNS SECONDS SCRIPT URL [SCRIPT ARGS...] → sets last_requests
  local engine=$1 endpoint=$2 conns=$3 secs=$4 script=$5 url=$6
  shift 6
  local threads=2 out line
  [ "$conns" -lt 2 ] && threads=1
  out=$(timeout $((secs + 60)) wrk -t "$threads" -c "$conns" -d "${secs}s" --timeout 10s \
    -s "$script" "$url" -- "$@" 2>&1) || { echo "$out" >&2; die "wrk failed"; }
  line=$(grep '^RESULT ' <<<"$out") || { echo "$out" >&2; die "no RESULT line from wrk"; }
  last_requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
  echo "$line"
}

record() { # record ENGINE ENDPOINT CONNS RESULT_LINE HOLDS SNAPSHOT_BEFORE SNAPSHOT_AFTER
  awk -v engine="$1" -v endpoint="$2" -v conns="$3" -v holds="$5" -v hwm="$(kib_field VmHWM)" \
    -v c0="$6" -v c1="$7" -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc)" '
    {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
      secs = r["duration_us"] / 1e6
      sock = r["connect"] + r["read"] + r["write"] + r["timeout"]
      split(c0, a, " "); split(c1, b, " ")
      total = b[4] - a[4]; wall = total / ncpu / hz   # seconds between the snapshots
      pct = 100 / hz / (wall > 0 ? wall : 1)
      server = (b[1] - a[1]) * pct; pg = (b[2] - a[2]) * pct; if (pg < 0) pg = 0; gen = (b[3] - a[3]) * pct
      busy = (total - (b[5] - a[5]) - (b[6] - a[6])) * pct
      iow = (b[6] - a[6]) * pct
      other = busy - server - pg - gen; if (other < 0) other = 0
      printf "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%d\t%d\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\n",
        engine, endpoint, conns, r["requests"] / secs, r["p50_us"] / 1000, r["p95_us"] / 1000,
        r["p99_us"] / 1000, r["max_us"] / 1000, r["requests"] - r["non2xx"], r["non2xx"], sock,
        holds, server, pg, gen, other, busy, iow, hwm / 1024
    }' <<<"$4" >>"$results"
}

wait_quiet() { # until the machine (minus our idle server) is below MAX_OTHER, at most QUIET_WAIT s
  local waited=0 busy
  while :; do
    busy=$(background_busy 1)
    if [ "$busy" -le "$MAX_OTHER" ] || [ "$waited" -ge "$QUIET_WAIT" ]; then break; fi
    [ "$waited" -eq 0 ] && echo "#   machine busy (${busy}% of one CPU) — waiting up to ${QUIET_WAIT}s for quiet" >&2
    waited=$((waited + 1))
  done
}

bench_case() { # bench_case ENGINE ENDPOINT CONNS
  local engine=$1 endpoint=$2 conns=$3 attempt=0 other
  while :; do
    wait_quiet
    bench_case_once "$engine" "$endpoint" "$conns"
    other=$(tail -n 1 "$results" | cut -f 16)
    if [ "$other" -le "$MAX_OTHER" ] || [ "$attempt" -ge "$RETRIES" ]; then break; fi
    attempt=$((attempt + 1))
    echo "#   other processes used ${other}% of a CPU during that case: discarded, re-running" >&2
    sed -i '$d' "$results"
  done
}

bench_case_once() { # bench_case_once ENGINE ENDPOINT CONNS
  local engine=$1 endpoint=$2 conns=$3 c0 c1 line holds=- tag threads=2
  [ "$conns" -lt 2 ] && threads=1
  c0=$(cpu_snapshot)
  if [ "$endpoint" = availability ]; then
    run_wrk "$engine" "$endpoint" "$conns" "$DURATION" "$work/report.lua" "$avail_url" >"$work/line"
    c1=$(cpu_snapshot)
  else
    run_no=$((run_no + 1)); tag=$(printf '%02d' "$run_no")
    run_wrk "$engine" "$endpoint" "$conns" "$DURATION" "$work/prereserve.lua" "$base/" \
      "$next_index" "$threads" "$unit_csv" "$first_day" "$tag" >"$work/line"
    c1=$(cpu_snapshot)
    next_index=$((next_index + last_requests + 10 * conns + 1000))
    holds=$(count_holds "$engine" "+54911$tag")
  fi
  line=$(cat "$work/line")
  record "$engine" "$endpoint" "$conns" "$line" "$holds" "$c0" "$c1"
  tail -n 1 "$results" | awk -F'\t' '{ printf "  %-8s %-12s c=%-3s %6s req/s  p50 %6s  p95 %6s  p99 %7s ms  ok %-6s non2xx %-5s sockerr %-3s holds_in_db %-6s cpu%%: server %s pg %s wrk %s other %s (busy %s of %d, iowait %s)  VmHWM %s MiB\n", $1, $2, $3, $4, $5, $6, $7, $9, $10, $11, $12, $13, $14, $15, $16, $17, n * 100, $18, $19 }' n="$(nproc)" >&2
}

bench_engine() {
  local engine=$1 url
  db_file=""
  if [ "$engine" = sqlite ]; then
    db_file="$work/bench.db"
    url="sqlite://$db_file"
  else
    pg_db="posada_bench_$$_$(date +%s)"
    psql -q -X "$PG_URL/postgres" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
    if [ -n "$PG_SYNC_COMMIT" ]; then # diagnostic only: is the commit flush the limit?
      psql -q -X "$PG_URL/postgres" -c "ALTER DATABASE \"$pg_db\" SET synchronous_commit = $PG_SYNC_COMMIT" >/dev/null
      echo "#   (diagnostic) synchronous_commit = $PG_SYNC_COMMIT for the bench database" >&2
    fi
    url="$PG_URL/$pg_db"
  fi
  echo "# $engine: background CPU busy $(background_busy)% of $(($(nproc) * 100))%; starting posada serve" >&2
  start_server "$url" "$work/server-$engine.log"
  echo "#   idle VmRSS $(( $(kib_field VmRSS) / 1024 )) MiB; seeding $UNITS + 1 cabins" >&2
  mapfile -t ids < <(seed_units $((UNITS + 1)))
  burst_unit=${ids[$UNITS]}
  unit_csv=$(IFS=,; echo "${ids[*]:0:$UNITS}")
  # Load holds start two days out (the server's "today" is Buenos Aires time, behind UTC).
  first_day=$(( $(date -u +%s) / 86400 + 2 ))
  next_index=0
  run_no=0
  avail_url="$base/api/v1/availability?check_in=$(date -u -d '+45 days' +%F)&check_out=$(date -u -d '+48 days' +%F)&guests=2"

  echo "#   warm-up ${WARMUP}s per endpoint (not reported)" >&2
  run_wrk "$engine" warmup 16 "$WARMUP" "$work/report.lua" "$avail_url" >/dev/null
  run_wrk "$engine" warmup 16 "$WARMUP" "$work/prereserve.lua" "$base/" 0 2 "$unit_csv" "$first_day" 99 >/dev/null
  next_index=$((last_requests + 10000))

  for ep in $ENDPOINTS; do
    for c in $CONNS; do bench_case "$engine" "$ep" "$c"; done
  done
  local last_day=$((first_day + next_index / UNITS))
  echo "#   pre-reserve nights used: $(date -u -d "@$((first_day * 86400))" +%F) .. $(date -u -d "@$((last_day * 86400))" +%F)" >&2

  for k in $(seq 1 "$BURSTS"); do
    local night
    night=$(date -u -d "@$(( (first_day + 3 * k) * 86400 ))" +%F)
    python3 "$here/burst.py" "$base" "$burst_unit" "$night" "$BURST_N" 30 |
      sed "s/^/  $engine burst $k: /" | tee -a "$work/bursts.txt" >&2
  done
  echo "#   $engine peak RSS (VmHWM) $(( $(kib_field VmHWM) / 1024 )) MiB; server log lines at warn: $(wc -l <"$work/server-$engine.log")" >&2
  head -n 3 "$work/server-$engine.log" | cut -c1-400 | sed 's/^/#   server: /' >&2
  stop_server
  drop_db
}

# How busy the machine is before we start: the load generator, the server and PostgreSQL
# share these CPUs, so anything else running (a build) lowers every figure.
background_busy() { # background_busy [SECONDS=2] → % of one CPU in use
  local a b
  a=$(cpu_ticks_machine); sleep "${1:-2}"; b=$(cpu_ticks_machine)
  awk -v a="$a" -v b="$b" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " ");
    t = y[1] - x[1]; printf "%.0f", (t > 0 ? 100 * n * (t - (y[2] - x[2]) - (y[3] - x[3])) / t : 0) }'
}

echo "# posada load bench — $(date -u +%FT%TZ) — $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo), $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)" >&2
echo "# binary $bin built $(date -u -r "$bin" +%FT%TZ); commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ has uncommitted changes)'); background CPU busy before start: $(background_busy)% of $(($(nproc) * 100))%" >&2
for e in $ENGINES; do bench_engine "$e"; done

echo >&2
echo "# summary (latencies in ms; cpu_* in % of one CPU over the case: server, all postgres processes, wrk, other = anything else on the machine; VmHWM = server peak RSS so far, MiB)"
if command -v column >/dev/null; then column -t -s $'\t' "$results"; else cat "$results"; fi
if [ -s "$work/bursts.txt" ]; then cat "$work/bursts.txt"; fi
