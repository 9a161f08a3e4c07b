#!/usr/bin/env bash
# Load bench for Posada: availability and pre-reserve at 1/16/64 connections on SQLite and
# PostgreSQL, server RSS, and N simultaneous same-night holds; on request also the iCal export
# (200 and 304) and WhatsApp webhook throughput end to end. Bounded and self-stopping; only ever
# talks to 127.0.0.1. See bench/README.md.
#
#   bench/load.sh                       # availability + pre-reserve (release build first)
#   BENCH_ENGINES=sqlite bench/load.sh  # one engine
#   BENCH_ENDPOINTS="ical ical-304" BENCH_CONNS=16 bench/load.sh   # iCal export, 500 reservations
#   BENCH_ENDPOINTS=whatsapp bench/load.sh                         # webhooks → replies in the outbox
#
# Knobs (environment):
#   BENCH_ENGINES   "sqlite postgres"   engines to measure
#   BENCH_CONNS     "1 16 64"           connection counts
#   BENCH_ENDPOINTS "availability pre-reserve"   which load cases; also "mixed" (availability at 16
#                                       connections while BENCH_WA_N webhooks are answered, then the
#                                       drain time), "pre-reserve-2" (every
#                                       write on 2 cabins, back-to-back distinct nights), "ical", "ical-304"
#                                       (wrk, per BENCH_CONNS) and "whatsapp" (wa_webhooks.py)
#   BENCH_DURATION  10                  seconds per measured case
#   BENCH_DURATION_2 3                  seconds per pre-reserve-2 case (2 cabins hold 7,300 nights in all)
#   BENCH_WARMUP    2                   seconds of unreported warm-up per endpoint
#   BENCH_UNITS     50                  cabins the pre-reserve load spreads over
#   BENCH_BURST_N   200                 simultaneous same-night holds
#   BENCH_BURSTS    3                   how many such bursts (each on its own night)
#   BENCH_PG_URL    postgres://postgres@127.0.0.1:5432   server to create the bench database on
#   BENCH_ICAL_RESERVATIONS 500         1-night blocks on the exported cabin (ical cases)
#   BENCH_WA_N      3000                webhooks, one "hola" from a different contact each
#   BENCH_WA_CONNS  64                  sender connections for the webhooks
#   BENCH_WA_WAIT   180                 seconds to wait for every reply to reach the outbox
#   BENCH_SKIP_BUILD 0                  1 = use the existing $CARGO_TARGET_DIR/release/posada
#                                       (CARGO_TARGET_DIR defaults to ./target, as for cargo)
#   BENCH_SERVER_ENV ""                 extra VAR=value words for the server (e.g. POSADA_DB_MAX_CONNECTIONS=32)
#   BENCH_PROFILE   bare                "userday": the configuration owners run — sandbox payments on
#                                       (every hold gets its payment link from the worker), WhatsApp on
#                                       against the local fake Graph API, the per-guest hold limit on;
#                                       "bare": neither (the figures of 2026-11-23)
#   BENCH_RSS_EVERY 0.5                 seconds between samples of the server's RSS (peak and last
#                                       reported per case, and 30 s after the last case)
#   BENCH_PG_SYNC_COMMIT ""             diagnostic: e.g. "off" sets synchronous_commit on the bench database
#   BENCH_MAX_OTHER 25                  a case during which other processes used more than this % of
#   BENCH_RETRIES   2                     one CPU is re-run (at most BENCH_RETRIES times), and before
#   BENCH_QUIET_WAIT 60                   each case we wait (at most this many s) for such a quiet machine
# Needs: cargo, wrk (apt-get install -y wrk), curl, python3, psql (for PostgreSQL), sqlite3
# (for the SQLite cross-checks; the whatsapp case needs it).
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
DURATION_2=${BENCH_DURATION_2:-3}
ICAL_RESERVATIONS=${BENCH_ICAL_RESERVATIONS:-500}
WA_N=${BENCH_WA_N:-3000}
WA_CONNS=${BENCH_WA_CONNS:-64}
WA_WAIT=${BENCH_WA_WAIT:-180}
SERVER_ENV=${BENCH_SERVER_ENV:-}
PG_SYNC_COMMIT=${BENCH_PG_SYNC_COMMIT:-}
MAX_OTHER=${BENCH_MAX_OTHER:-25}
RETRIES=${BENCH_RETRIES:-2}
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}
PROFILE=${BENCH_PROFILE:-bare}
RSS_EVERY=${BENCH_RSS_EVERY:-0.5}

die() { echo "load.sh: $*" >&2; exit 1; }
case "$PROFILE" in bare|userday) ;; *) die "BENCH_PROFILE must be bare or userday (got $PROFILE)" ;; esac

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
wants() { case " $ENDPOINTS " in *" $1 "*) return 0 ;; esac; return 1; }
if wants whatsapp && [[ " $ENGINES " == *" sqlite "* ]]; then
  command -v sqlite3 >/dev/null || die "sqlite3 is missing (apt-get install -y sqlite3)"
fi

# The server must see only the configuration this script gives it.
for v in $(compgen -e | grep '^POSADA_' || true); do unset "$v"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/posada-bench.XXXXXX")
server_pid=""
pg_db=""
graph_pid=""

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
  if [ -n "$rss_pid" ]; then kill "$rss_pid" 2>/dev/null || true; wait "$rss_pid" 2>/dev/null || true; rss_pid=""; fi
}

drop_db() {
  if [ -n "$pg_db" ]; then
    psql -q -X "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "load.sh: could not drop database $pg_db" >&2
    pg_db=""
  fi
}

stop_graph() { # the fake Graph API of the whatsapp case
  if [ -n "$graph_pid" ] && kill -0 "$graph_pid" 2>/dev/null; then
    kill -TERM "$graph_pid" 2>/dev/null || true
    wait "$graph_pid" 2>/dev/null || true
  fi
  graph_pid=""
}

cleanup() {
  local rc=$?
  set +e
  stop_server
  stop_graph
  drop_db
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$SKIP_BUILD" != 1 ]; then
  echo "# building: cargo build --release -p server (target dir ${CARGO_TARGET_DIR:-$root/target})" >&2
  (cd "$root" && cargo build --release -p server) >&2
fi
bin="${CARGO_TARGET_DIR:-$root/target}/release/posada"
[ -x "$bin" ] || die "no binary at $bin"

cat "$here/prereserve.lua" "$here/report.lua" >"$work/prereserve.lua"
cat "$here/ical.lua" "$here/report.lua" >"$work/ical.lua"
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
  # Every request comes from 127.0.0.1: the per-address hold limit would stop the load at 3.
  # Every hold takes its own night, so the horizon is the longest allowed (3,650 nights a cabin:
  # 2 cabins at 1,000 holds/s run out after 7 s, hence the shorter pre-reserve-2 cases).
  local profile_env="POSADA_MAX_HOLDS_PER_CONTACT=0"
  if [ "$PROFILE" = userday ]; then profile_env="POSADA_PAYMENT_PROVIDER=sandbox"; fi
  # shellcheck disable=SC2086 # profile_env too
  env POSADA_JWT_SECRET="$secret" POSADA_RATE_LIMIT_PER_MIN=0 POSADA_LOG=warn \
    POSADA_BIND="127.0.0.1:$port" POSADA_DATABASE_URL="$1" POSADA_MAX_HOLDS_PER_ADDRESS=0 $profile_env \
    POSADA_BOOKING_HORIZON_DAYS=3650 \
    POSADA_ADMIN_EMAIL="$admin_email" POSADA_ADMIN_PASSWORD="$admin_password" $WA_ENV $SERVER_ENV \
    "$bin" serve >/dev/null 2>"$2" &
  server_pid=$!
  start_rss_sampler
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$base/api/v1/readyz" 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$2" >&2; die "server exited during start-up"; }
    sleep 0.1
  done
  die "server not ready after 30 s"
}

# The server's RSS, sampled all along: "<epoch seconds> <KiB>" per line.
rss_pid=""
start_rss_sampler() {
  : >"$work/rss.txt"
  (while kill -0 "$server_pid" 2>/dev/null; do
     awk -v t="$(date +%s.%N)" '$1 == "VmRSS:" { print t, $2 }' "/proc/$server_pid/status" 2>/dev/null
     sleep "$RSS_EVERY"
   done >>"$work/rss.txt") &
  rss_pid=$!
}
rss_between() { # rss_between T0 T1 → "peak_MiB last_MiB" of the samples taken between
  awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b { if ($2 > m) m = $2; l = $2 } END { printf "%.1f %.1f", m / 1024, l / 1024 }' "$work/rss.txt"
}

admin_token() {
  curl -fsS -H 'Content-Type: application/json' \
    -d "{\"email\":\"$admin_email\",\"password\":\"$admin_password\"}" \
    "$base/api/v1/admin/login" | json_field access_token
}

seed_units() { # seed_units COUNT [NAME=Cabaña] → the created unit ids, one per line
  local token i
  token=$(admin_token)
  for i in $(seq 1 "$1"); do
    curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
      -d "{\"name\":\"${2:-Cabaña} $i\",\"capacity\":6,\"base_price\":50000,\"weekend_multiplier\":1.2,\"min_nights\":1}" \
      "$base/api/v1/admin/accommodations" | json_field id
  done
}

seed_blocks() { # seed_blocks UNIT_ID COUNT FIRST_EPOCH_DAY: owner blocks of one night each, consecutive
  python3 - "$base" "$(admin_token)" "$1" "$2" "$3" <<'PY'
import http.client, json, sys, urllib.parse
from datetime import date, timedelta
base, token, unit, n, first = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlsplit(base)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
d0 = date(1970, 1, 1) + timedelta(days=first)
for k in range(n):
    ci = d0 + timedelta(days=k)
    body = {"accommodation_id": unit, "check_in": ci.isoformat(),
            "check_out": (ci + timedelta(days=1)).isoformat(), "kind": "block"}
    c.request("POST", "/api/v1/admin/reservations", json.dumps(body),
              {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    r = c.getresponse()
    data = r.read()
    if r.status != 201:
        sys.exit(f"block {k}: {r.status} {data[:300]!r}")
PY
}

ical_exports() { # ical_exports RESULT → the server's ical_exports_total{result="RESULT"} so far
  curl -fsS "$base/metrics" | awk -v want="ical_exports_total{result=\"$1\"}" '$1 == want { v = $2 } END { printf "%d", v + 0 }'
}

# The WhatsApp case: the server's database, timestamps as epoch seconds on both engines.
db_query() { # db_query ENGINE SQL → tab-separated rows
  if [ "$1" = sqlite ]; then sqlite3 -separator $'\t' "$db_file" "$2"; else psql -q -X -At -F $'\t' "$PG_URL/$pg_db" -c "$2"; fi
}
epoch_sql() { # epoch_sql ENGINE COLUMN
  if [ "$1" = sqlite ]; then echo "((julianday($2) - 2440587.5) * 86400.0)"; else echo "extract(epoch FROM $2)"; fi
}

count_links() { # count_links ENGINE PHONE_PREFIX → holds of that run that have their payment link
  db_query "$1" "SELECT count(*) FROM payment_links l JOIN reservations r ON r.id = l.reservation_id WHERE r.guest_phone LIKE '$2%'"
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
printf 'engine\tendpoint\tconns\treq_s\tp50_ms\tp95_ms\tp99_ms\tmax_ms\tok\tnon2xx\tsock_err\tcounted\tcpu_server\tcpu_pg\tcpu_wrk\tcpu_other\tcpu_busy\tiowait\tvmhwm_mib\trss_peak_mib\tlinks\tlinks_lag_s\n' >"$results"

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

record() { # record ENGINE ENDPOINT CONNS RESULT_LINE HOLDS SNAPSHOT_BEFORE SNAPSHOT_AFTER RSS_PEAK LINKS LINKS_LAG
  awk -v engine="$1" -v endpoint="$2" -v conns="$3" -v holds="$5" -v hwm="$(kib_field VmHWM)" \
    -v rss="$8" -v links="$9" -v lag="${10}" \
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
      printf "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%d\t%d\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%s\t%s\t%s\n",
        engine, endpoint, conns, r["requests"] / secs, r["p50_us"] / 1000, r["p95_us"] / 1000,
        r["p99_us"] / 1000, r["max_us"] / 1000, r["requests"] - r["non2xx"], r["non2xx"], sock,
        holds, server, pg, gen, other, busy, iow, hwm / 1024, rss, links, lag
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
  local engine=$1 endpoint=$2 conns=$3 c0 c1 line holds=- tag threads=2 t0 t1 links=- lag=-
  [ "$conns" -lt 2 ] && threads=1
  t0=$(date +%s.%N)
  c0=$(cpu_snapshot)
  if [ "${endpoint%%-during-burst}" = availability ]; then
    run_wrk "$engine" "$endpoint" "$conns" "$DURATION" "$work/report.lua" "$avail_url" >"$work/line"
    c1=$(cpu_snapshot)
  elif [ "$endpoint" = ical ] || [ "$endpoint" = ical-304 ]; then
    # "holds" is here the number of exports the server counted with the expected result
    local result=200 n0 etag_arg=()
    if [ "$endpoint" = ical-304 ]; then result=304; etag_arg=("$ical_etag"); fi
    n0=$(ical_exports "$result")
    run_wrk "$engine" "$endpoint" "$conns" "$DURATION" "$work/ical.lua" "$base$ical_path" "${etag_arg[@]}" >"$work/line"
    c1=$(cpu_snapshot)
    holds=$(( $(ical_exports "$result") - n0 ))
  else
    run_no=$((run_no + 1)); tag=$(printf '%02d' "$run_no")
    local units=$unit_csv index=$next_index
    if [ "$endpoint" = pre-reserve-2 ]; then units=$unit_csv2; index=$next_index2; fi
    local secs=$DURATION
    if [ "$endpoint" = pre-reserve-2 ]; then secs=$DURATION_2; fi
    run_wrk "$engine" "$endpoint" "$conns" "$secs" "$work/prereserve.lua" "$base/" \
      "$index" "$threads" "$units" "$first_day" "$tag" >"$work/line"
    c1=$(cpu_snapshot)
    if [ "$endpoint" = pre-reserve-2 ]; then
      next_index2=$((next_index2 + last_requests + 10 * conns + 10))
    else
      next_index=$((next_index + last_requests + 10 * conns + 1000))
    fi
    holds=$(count_holds "$engine" "+54911$tag")
    if [ "$PROFILE" = userday ]; then # every hold's payment link, made by the worker after the hold
      local waited=0 t_done
      t_done=$(date +%s.%N)
      while :; do
        links=$(count_links "$engine" "+54911$tag")
        if [ "$links" -ge "$holds" ] || [ "$waited" -ge 240 ]; then break; fi
        sleep 0.25; waited=$((waited + 1))
      done
      lag=$(awk -v a="$t_done" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    fi
  fi
  t1=$(date +%s.%N)
  line=$(cat "$work/line")
  record "$engine" "$endpoint" "$conns" "$line" "$holds" "$c0" "$c1" "$(rss_between "$t0" "$t1" | cut -d' ' -f1)" "$links" "$lag"
  tail -n 1 "$results" | awk -F'\t' '{ printf "  %-8s %-12s c=%-3s %6s req/s  p50 %6s  p95 %6s  p99 %7s ms  ok %-6s non2xx %-5s sockerr %-3s counted %-6s cpu%%: server %s pg %s wrk %s other %s (busy %s of %d, iowait %s)  VmHWM %s MiB, RSS peak in case %s MiB, links %s (%s s after)\n", $1, $2, $3, $4, $5, $6, $7, $9, $10, $11, $12, $13, $14, $15, $16, $17, n * 100, $18, $19, $20, $21, $22 }' n="$(nproc)" >&2
}

proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

cpu_split() { # cpu_split SNAPSHOT_BEFORE SNAPSHOT_AFTER GRAPH_TICKS_BEFORE GRAPH_TICKS_AFTER
  awk -v c0="$1" -v c1="$2" -v g0="$3" -v g1="$4" -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc)" 'BEGIN {
    split(c0, a, " "); split(c1, b, " ")
    total = b[4] - a[4]; wall = total / ncpu / hz; pct = 100 / hz / (wall > 0 ? wall : 1)
    server = (b[1] - a[1]) * pct; pg = (b[2] - a[2]) * pct; if (pg < 0) pg = 0
    gen = (b[3] - a[3]) * pct; graph = (g1 - g0) * pct
    busy = (total - (b[5] - a[5]) - (b[6] - a[6])) * pct
    other = busy - server - pg - gen - graph; if (other < 0) other = 0
    printf "server=%.0f pg=%.0f sender=%.0f graph=%.0f other=%.0f busy=%.0f iowait=%.0f wall_s=%.2f",
      server, pg, gen, graph, other, busy, (b[6] - a[6]) * pct, wall }'
}

start_graph() { # the fake Graph API the server sends its replies to
  rm -f "$work/graph.port"
  python3 "$here/fake_graph.py" "$work/graph.port" "$work/graph.count" &
  graph_pid=$!
  for _ in $(seq 1 100); do [ -s "$work/graph.port" ] && break; sleep 0.1; done
  [ -s "$work/graph.port" ] || die "fake Graph API did not start"
  wa_secret=bench-app-secret-0123456789
  WA_ENV="POSADA_WHATSAPP_VERIFY_TOKEN=bench-verify POSADA_WHATSAPP_APP_SECRET=$wa_secret \
POSADA_WHATSAPP_ACCESS_TOKEN=bench-access POSADA_WHATSAPP_PHONE_NUMBER_ID=100200300 \
POSADA_WHATSAPP_API_BASE=http://127.0.0.1:$(cat "$work/graph.port")"
}

whatsapp_case() { # whatsapp_case ENGINE: re-run (new contacts) when other processes ate the CPU
  local engine=$1 attempt=0
  while :; do
    wait_quiet
    whatsapp_once "$engine"
    if [ "$wa_other" -le "$MAX_OTHER" ] || [ "$attempt" -ge "$RETRIES" ]; then break; fi
    attempt=$((attempt + 1))
    echo "#   other processes used ${wa_other}% of a CPU during that case: re-running with new contacts" >&2
  done
}

whatsapp_once() { # N webhooks from N new contacts; then wait for N answered events and all sends
  local engine=$1 tag c0 c1 c2="" c3 g0 g1 g2="" g3 line counts answered queued t0 deadline latency ack e2e sent
  wa_run=$((wa_run + 1)); tag=$(printf '%02d' "$wa_run")
  local like="provider_id LIKE 'wamid.bench$tag.%'"
  local poll="SELECT (SELECT count(*) FROM inbound_events WHERE $like AND processed_at IS NOT NULL), \
(SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'queued')"
  g0=$(proc_ticks "$graph_pid"); c0=$(cpu_snapshot)
  line=$(timeout $((WA_WAIT + 60)) python3 "$here/wa_webhooks.py" "$base" "$wa_secret" "$WA_N" "$WA_CONNS" "$tag" 30) ||
    die "wa_webhooks.py failed: $line"
  c1=$(cpu_snapshot); g1=$(proc_ticks "$graph_pid")
  if [ "$(wc -l <<<"$line")" -gt 1 ]; then tail -n +2 <<<"$line" | sed "s/^/  $engine whatsapp run $tag: /" >&2; fi
  t0=$(date +%s); deadline=$((t0 + WA_WAIT))
  while :; do
    counts=$(db_query "$engine" "$poll")
    answered=${counts%%$'\t'*}; queued=${counts##*$'\t'}
    if [ -z "$c2" ] && [ "$answered" -ge "$WA_N" ]; then c2=$(cpu_snapshot); g2=$(proc_ticks "$graph_pid"); fi
    if [ -n "$c2" ] && [ "$queued" -eq 0 ]; then break; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "#   gave up after ${WA_WAIT}s: $answered of $WA_N answered, $queued replies still queued" >&2
      break
    fi
    sleep 0.25
  done
  c3=$(cpu_snapshot); g3=$(proc_ticks "$graph_pid")
  [ -n "$c2" ] || { c2=$c3; g2=$g3; }
  epoch_of() { epoch_sql "$engine" "$1"; }
  latency=$(db_query "$engine" "SELECT $(epoch_of e.received_at), $(epoch_of e.processed_at), $(epoch_of 'min(m.created_at)'), \
$(epoch_of "max(CASE WHEN m.status = 'sent' THEN m.updated_at END)"), count(m.id), \
sum(CASE WHEN m.status = 'queued' THEN 1 ELSE 0 END) \
FROM inbound_events e LEFT JOIN messages m ON m.inbound_event_id = e.id AND m.direction = 'out' \
WHERE e.$like GROUP BY e.id, e.received_at, e.processed_at" |
    python3 "$here/wa_latency.py" "$(sed -E 's/.*first_sent_epoch=([0-9.]+).*/\1/' <<<"$line")" "$WA_N")
  ack=$(cpu_split "$c0" "$c1" "$g0" "$g1"); e2e=$(cpu_split "$c0" "$c2" "$g0" "$g2"); sent=$(cpu_split "$c0" "$c3" "$g0" "$g3")
  wa_other=$(sed -E 's/.*other=([0-9]+).*/\1/' <<<"$e2e")
  {
    echo "$engine whatsapp run $tag: $(head -n 1 <<<"$line")"
    echo "$engine whatsapp run $tag: $(head -n 1 <<<"$latency")"
    echo "$engine whatsapp run $tag: $(tail -n 1 <<<"$latency")"
    echo "$engine whatsapp run $tag: out_rows_total=$(db_query "$engine" "SELECT count(*) FROM messages WHERE direction = 'out'")"
    echo "$engine whatsapp run $tag: cpu% ack window: $ack"
    echo "$engine whatsapp run $tag: cpu% until all answered: $e2e"
    echo "$engine whatsapp run $tag: cpu% until all sent: $sent"
    echo "$engine whatsapp run $tag: VmHWM $(( $(kib_field VmHWM) / 1024 )) MiB"
  } | tee -a "$work/whatsapp.txt" | sed 's/^/  /' >&2
}

mixed_case() { # availability (16 connections) while a burst of BENCH_WA_N webhooks is answered,
  # then how long the queue took to drain after the burst's last acknowledgement
  local engine=$1 tag wa_pid t0 counts answered queued waited=0
  wa_run=$((${wa_run:-0} + 1)); tag=$(printf '%02d' "$((wa_run + 50))")
  wait_quiet
  t0=$(date +%s.%N)
  python3 "$here/wa_webhooks.py" "$base" "$wa_secret" "$WA_N" "$WA_CONNS" "$tag" 60 >"$work/mixed-wa.txt" 2>&1 &
  wa_pid=$!
  sleep 0.5
  bench_case_once "$engine" availability-during-burst 16
  wait "$wa_pid" || true
  local like="provider_id LIKE 'wamid.bench$tag.%'"
  while :; do
    counts=$(db_query "$engine" "SELECT (SELECT count(*) FROM inbound_events WHERE $like AND processed_at IS NOT NULL), \
(SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'queued')")
    answered=${counts%%$'\t'*}; queued=${counts##*$'\t'}
    if { [ "$answered" -ge "$WA_N" ] && [ "$queued" -eq 0 ]; } || [ "$waited" -ge $((WA_WAIT * 4)) ]; then break; fi
    sleep 0.25; waited=$((waited + 1))
  done
  {
    echo "$engine mixed: $(head -n 1 "$work/mixed-wa.txt")"
    echo "$engine mixed: $answered of $WA_N answered, $queued replies queued, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after the burst began"
  } | tee -a "$work/whatsapp.txt" | sed 's/^/  /' >&2
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
  WA_ENV=""
  if wants whatsapp || [ "$PROFILE" = userday ]; then start_graph; fi
  echo "# $engine: background CPU busy $(background_busy)% of $(($(nproc) * 100))%; starting posada serve" >&2
  start_server "$url" "$work/server-$engine.log"
  echo "#   idle VmRSS $(( $(kib_field VmRSS) / 1024 )) MiB; seeding $UNITS + 1 + 2 cabins" >&2
  mapfile -t ids < <(seed_units $((UNITS + 3)))
  burst_unit=${ids[$UNITS]}
  unit_csv=$(IFS=,; echo "${ids[*]:0:$UNITS}")
  unit_csv2=$(IFS=,; echo "${ids[*]:$((UNITS + 1)):2}") # the 2-cabin pattern has its own cabins
  # Load holds start two days out (the server's "today" is Buenos Aires time, behind UTC).
  first_day=$(( $(date -u +%s) / 86400 + 2 ))
  next_index=0
  next_index2=0
  run_no=0
  avail_url="$base/api/v1/availability?check_in=$(date -u -d '+45 days' +%F)&check_out=$(date -u -d '+48 days' +%F)&guests=2"

  if wants ical || wants ical-304; then # one more cabin, ICAL_RESERVATIONS consecutive 1-night blocks
    local t_seed token
    ical_unit=$(seed_units 1 Calendario)
    t_seed=$(date +%s.%N)
    seed_blocks "$ical_unit" "$ICAL_RESERVATIONS" "$first_day"
    token=$(admin_token)
    ical_path=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/admin/accommodations/$ical_unit/ical" |
      python3 -c 'import json, sys, urllib.parse; print(urllib.parse.urlsplit(json.load(sys.stdin)["export_url"]).path)')
    curl -fsS -D "$work/ical.head" -o "$work/ical.ics" "$base$ical_path"
    ical_etag=$(awk 'tolower($1) == "etag:" { sub(/\r$/, "", $2); print $2 }' "$work/ical.head")
    echo "#   iCal cabin $ical_unit: $ICAL_RESERVATIONS blocks in $(awk -v a="$t_seed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s;" \
      "export $ical_path: $(grep -c '^BEGIN:VEVENT' "$work/ical.ics") events, $(wc -c <"$work/ical.ics") bytes, ETag $ical_etag;" \
      "If-None-Match → $(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $ical_etag" "$base$ical_path")" >&2
  fi

  echo "#   warm-up ${WARMUP}s per endpoint (not reported)" >&2
  if wants availability; then run_wrk "$engine" warmup 16 "$WARMUP" "$work/report.lua" "$avail_url" >/dev/null; fi
  if wants pre-reserve || wants pre-reserve-2; then
    run_wrk "$engine" warmup 16 "$WARMUP" "$work/prereserve.lua" "$base/" 0 2 "$unit_csv" "$first_day" 99 >/dev/null
    next_index=$((last_requests + 10000))
  fi
  if wants ical || wants ical-304; then run_wrk "$engine" warmup 16 "$WARMUP" "$work/ical.lua" "$base$ical_path" >/dev/null; fi

  for ep in $ENDPOINTS; do
    case $ep in whatsapp | mixed) continue ;; esac
    for c in $CONNS; do bench_case "$engine" "$ep" "$c"; done
  done
  if wants whatsapp; then wa_run=0; whatsapp_case "$engine"; fi
  if wants mixed; then mixed_case "$engine"; fi

  if wants pre-reserve || wants pre-reserve-2; then
    local last_day=$((first_day + next_index / UNITS))
    echo "#   pre-reserve nights used: $(date -u -d "@$((first_day * 86400))" +%F) .. $(date -u -d "@$((last_day * 86400))" +%F)" >&2
  else
    BURSTS=0 # the simultaneous holds go with the pre-reserve cases
  fi
  for k in $(seq 1 "$BURSTS"); do
    local night
    night=$(date -u -d "@$(( (first_day + 3 * k) * 86400 ))" +%F)
    python3 "$here/burst.py" "$base" "$burst_unit" "$night" "$BURST_N" 30 |
      sed "s/^/  $engine burst $k: /" | tee -a "$work/bursts.txt" >&2
  done
  sleep 30 # is the memory given back once the load is gone?
  echo "#   $engine RSS: peak (VmHWM) $(( $(kib_field VmHWM) / 1024 )) MiB; now $(( $(kib_field VmRSS) / 1024 )) MiB, 30 s after the last case; server log lines at warn: $(wc -l <"$work/server-$engine.log")" | tee -a "$work/rss-summary.txt" >&2
  head -n 3 "$work/server-$engine.log" | cut -c1-400 | sed 's/^/#   server: /' >&2
  stop_server
  stop_graph
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
echo "# summary (latencies in ms; counted = holds in the database (pre-reserve) or exports the server counted with the expected status, 200 or 304 (ical); cpu_* in % of one CPU over the case: server, all postgres processes, wrk, other = anything else on the machine; VmHWM = server peak RSS so far, MiB)"
if [ "$(wc -l <"$results")" -gt 1 ]; then
  if command -v column >/dev/null; then column -t -s $'\t' "$results"; else cat "$results"; fi
fi
if [ -s "$work/bursts.txt" ]; then cat "$work/bursts.txt"; fi
if [ -s "$work/whatsapp.txt" ]; then cat "$work/whatsapp.txt"; fi
if [ -s "$work/rss-summary.txt" ]; then cat "$work/rss-summary.txt"; fi
echo "# profile: $PROFILE"
