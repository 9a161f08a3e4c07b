#!/usr/bin/env python3
"""PostgreSQL restarted under load: the service recovers without a restart of its own.

    python3 chaos/pg_restart.py            (as root, on the machine that runs PostgreSQL)

One `posada serve` on a fresh database; 16 clients ask for availability and place holds for
--seconds; after a third of the time PostgreSQL is restarted (`pg_ctlcluster … restart`). Prints
what the clients saw second by second, then checks: requests succeed again within --recover
seconds of PostgreSQL being back, `healthz` is ok again, no overlap, no 5xx once recovered.
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from holds import Instance, call  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/posada")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--seconds", type=int, default=45)
    ap.add_argument("--recover", type=int, default=15)
    args = ap.parse_args()
    cluster = sorted(os.listdir("/etc/postgresql"))[-1]
    db = f"posada_pgrestart_{os.getpid()}"
    subprocess.run(["psql", args.pg, "-qc", f"create database {db}"], check=True)
    url = args.pg.rsplit("/", 1)[0] + "/" + db
    work = tempfile.mkdtemp(prefix="posada-chaos-")
    env = dict(os.environ, POSADA_DATABASE_URL=url, POSADA_DATA_DIR=work, POSADA_JWT_SECRET="chaos-" + "x" * 40,
               POSADA_ADMIN_EMAIL="duena@example.com", POSADA_ADMIN_PASSWORD="una-clave-larga-de-prueba",
               POSADA_SANDBOX="true", POSADA_PAYMENT_PROVIDER="sandbox", POSADA_RATE_LIMIT_PER_MIN="0",
               POSADA_MAX_HOLDS_PER_ADDRESS="0", POSADA_MAX_HOLDS_PER_CONTACT="0", POSADA_LOG="warn")
    s = Instance(args.binary, env, "serve", work)
    s.start()
    setup = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    _, login = call(setup, "POST", "/api/v1/admin/login", {"email": env["POSADA_ADMIN_EMAIL"], "password": env["POSADA_ADMIN_PASSWORD"]})
    for i in range(3):
        call(setup, "POST", "/api/v1/admin/accommodations", {"name": f"Cabaña {i + 1}", "capacity": 6, "base_price": 50000}, login["access_token"])
    start = time.time()
    seen = {}  # second -> {"ok": n, "4xx": n, "5xx": n, "error": n}
    lock = threading.Lock()
    pg = {"down_at": None, "back_at": None}
    codes = {}  # the 5xx statuses seen

    def note(kind):
        sec = int(time.time() - start)
        with lock:
            seen.setdefault(sec, {"ok": 0, "4xx": 0, "5xx": 0, "error": 0})[kind] += 1

    def client(k):
        r = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        n = 0
        while time.time() - start < args.seconds:
            n += 1
            ci = date.today() + timedelta(days=r.randint(2, 200))
            try:
                if n % 2:
                    status, _ = call(conn, "GET", f"/api/v1/availability?check_in={ci}&check_out={ci + timedelta(days=2)}&guests=2")
                else:
                    body = {"accommodation_id": r.randint(1, 3), "check_in": str(ci), "check_out": str(ci + timedelta(days=r.randint(1, 4))),
                            "guests": 2, "contact_name": "Caos", "contact_phone": f"+54911{k:02d}{n:06d}"}
                    status, _ = call(conn, "POST", "/api/v1/reservations/pre-reserve", body)
                note("ok" if status < 400 or status == 409 else "4xx" if status < 500 else "5xx")
                if status >= 500:
                    with lock:
                        codes[status] = codes.get(status, 0) + 1
            except (OSError, http.client.HTTPException):
                note("error")
                conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
                time.sleep(0.1)

    def restart():
        time.sleep(args.seconds / 3)
        pg["down_at"] = time.time() - start
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"], check=True)
        pg["back_at"] = time.time() - start

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)] + [threading.Thread(target=restart)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, health = call(http.client.HTTPConnection("127.0.0.1", s.port, timeout=10), "GET", "/api/v1/healthz")
    s.stop()
    overlaps = subprocess.run(["psql", url, "-Atc",
                               "select count(*) from reservations x join reservations y on x.unit_id = y.unit_id and x.id < y.id "
                               "where x.status in ('pre_reserved','confirmed','blocked') and y.status in ('pre_reserved','confirmed','blocked') "
                               "and x.check_in < y.check_out and y.check_in < x.check_out"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(["psql", args.pg, "-qc", f"drop database {db} with (force)"], check=False)
    for sec in sorted(seen):
        print(sec, seen[sec])
    back = pg["back_at"]
    after = [v for sec, v in seen.items() if sec >= back + args.recover]
    recovered = bool(after) and all(v["5xx"] == 0 and v["error"] == 0 for v in after) and sum(v["ok"] for v in after) > 0
    first_ok = min((sec for sec, v in seen.items() if sec >= back and v["ok"] > 0 and v["5xx"] == 0 and v["error"] == 0), default=None)
    report = {"postgres_restart_started_s": round(pg["down_at"], 1), "postgres_back_s": round(back, 1),
              "first_clean_second_after": first_ok, "healthz_after": health.get("status") if isinstance(health, dict) else health,
              "overlaps": int(overlaps), "recovered_without_restart": recovered,
              "5xx_by_status": codes}
    print(json.dumps(report, indent=2))
    ok = recovered and int(overlaps) == 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
