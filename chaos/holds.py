#!/usr/bin/env python3
"""Contended holds across two `posada serve` instances on one database, with a `kill -9`.

    python3 chaos/holds.py --engine postgres --requests 30000
    python3 chaos/holds.py --engine sqlite --requests 30000

Not part of CI (docs/reliability.md has the figures and how to read them). Standard library only;
PostgreSQL is checked through `psql`. What it proves, in the database itself, afterwards:
  * no two active stays (pre_reserved, confirmed, blocked) of one cabin share a night;
  * every 201 the clients saw is a row, and every row belongs to a request that got a 201, or to
    one that was in flight on the killed instance (its answer was lost with the process);
  * cancellations the clients saw are cancelled rows;
  * the job queue drains: nothing due is left pending or running, nothing failed.
Each request carries its own phone number, so each row maps back to the request that made it.
"""
import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta

ACTIVE = ("pre_reserved", "confirmed", "blocked")


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Instance:
    def __init__(self, binary, env, name, log_dir):
        self.binary, self.env, self.name = binary, env, name
        self.port = free_port()
        self.log = open(os.path.join(log_dir, f"{name}.log"), "ab")
        self.proc = None

    def start(self):
        env = dict(self.env, POSADA_BIND=f"127.0.0.1:{self.port}", POSADA_PUBLIC_URL=f"http://127.0.0.1:{self.port}")
        self.proc = subprocess.Popen([self.binary, "serve"], env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/api/v1/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"{self.name} did not become ready (see its log)")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def call(conn, method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--binary", default="target/release/posada")
    ap.add_argument("--requests", type=int, default=30000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--cabins", type=int, default=3)
    ap.add_argument("--days", type=int, default=90, help="stays start within this many days")
    ap.add_argument("--cancel-share", type=float, default=0.7, help="share of 201s cancelled right away (frees nights)")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    rnd = random.Random(7)
    work = tempfile.mkdtemp(prefix="posada-chaos-")
    if args.engine == "postgres":
        db = f"posada_chaos_{os.getpid()}"
        subprocess.run(["psql", args.pg, "-qc", f"create database {db}"], check=True)
        url = args.pg.rsplit("/", 1)[0] + "/" + db
    else:
        url = f"sqlite://{work}/posada.db"
    env = dict(
        os.environ,
        POSADA_DATABASE_URL=url,
        POSADA_DATA_DIR=work,
        POSADA_JWT_SECRET="chaos-" + "x" * 40,
        POSADA_ADMIN_EMAIL="duena@example.com",
        POSADA_ADMIN_PASSWORD="una-clave-larga-de-prueba",
        POSADA_SANDBOX="true",
        POSADA_PAYMENT_PROVIDER="sandbox",
        POSADA_RATE_LIMIT_PER_MIN="0",
        POSADA_MAX_HOLDS_PER_ADDRESS="0",
        POSADA_MAX_HOLDS_PER_CONTACT="0",
        POSADA_LOG="warn",
    )
    a, b = Instance(args.binary, env, "a", work), Instance(args.binary, env, "b", work)
    a.start()
    b.start()
    setup = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
    status, login = call(setup, "POST", "/api/v1/admin/login", {"email": env["POSADA_ADMIN_EMAIL"], "password": env["POSADA_ADMIN_PASSWORD"]})
    assert status == 200, login
    token = login["access_token"]
    for i in range(args.cabins):
        status, body = call(setup, "POST", "/api/v1/admin/accommodations", {"name": f"Cabaña {i + 1}", "capacity": 6, "base_price": 50000, "min_nights": 1}, token)
        assert status == 201, body
    _, units = call(setup, "GET", "/api/v1/accommodations")
    unit_ids = [u["id"] for u in units]

    # Each request: (phone, unit, check_in, nights). Stays fall in the next --days days: heavy overlap.
    today = date.today()
    plan = []
    for n in range(args.requests):
        plan.append((f"+54911{n:08d}", rnd.choice(unit_ids), today + timedelta(days=rnd.randint(2, args.days)), rnd.randint(1, 5)))
    outcome = {}  # phone -> ("201", code) | ("409",) | ("lost", instance) | (status,)
    cancelled = set()
    lock = threading.Lock()
    counter = iter(range(len(plan)))
    killed = threading.Event()
    alive = {"a": True}
    counts = {}

    def client(k):
        conns = {}
        r = random.Random(k)
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            phone, unit, check_in, nights = plan[n]
            target = a if (n % 2 == 0 and alive["a"]) else b
            if target.name not in conns:
                conns[target.name] = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
            conn = conns[target.name]
            body = {"accommodation_id": unit, "check_in": check_in.isoformat(), "check_out": (check_in + timedelta(days=nights)).isoformat(),
                    "guests": 2, "contact_name": "Caos", "contact_phone": phone}
            try:
                status, resp = call(conn, "POST", "/api/v1/reservations/pre-reserve", body)
            except (OSError, http.client.HTTPException):
                conns.pop(target.name, None)
                with lock:
                    outcome[phone] = ("lost", target.name)
                    counts["lost"] = counts.get("lost", 0) + 1
                continue
            with lock:
                counts[status] = counts.get(status, 0) + 1
            if status == 201:
                code = resp["code"]
                outcome[phone] = ("201", code)
                if r.random() < args.cancel_share:
                    try:
                        s, _ = call(conn, "POST", f"/api/v1/reservations/{code}/cancel", {"note": "caos"}, token)
                        if s == 200:
                            with lock:
                                cancelled.add(code)
                    except (OSError, http.client.HTTPException):
                        conns.pop(target.name, None)
            else:
                outcome[phone] = (str(status),)

    def chaos():
        # kill -9 instance a at 40 % of the requests; restart it 3 s later.
        while len(outcome) < 0.4 * len(plan):
            time.sleep(0.05)
        alive["a"] = False
        a.kill9()
        killed.set()
        time.sleep(3)
        a.start()
        alive["a"] = True

    started = time.time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    chaos_thread = threading.Thread(target=chaos)
    chaos_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    chaos_thread.join()
    elapsed = time.time() - started

    # Let the worker drain what is due (payment links), then read the database.
    def query(sql):
        if args.engine == "postgres":
            out = subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True).stdout
            return [line.split("|") for line in out.splitlines() if line]
        con = sqlite3.connect(f"{work}/posada.db", timeout=30)
        rows = [[str(c) for c in row] for row in con.execute(sql)]
        con.close()
        return rows

    now_sql = "now()" if args.engine == "postgres" else "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
    due = f"select count(*) from jobs where status in ('pending','running') and run_at <= {now_sql}"
    deadline = time.time() + 300
    while int(query(due)[0][0]) > 0 and time.time() < deadline:
        time.sleep(1)
    pending_due = int(query(due)[0][0])
    failed_jobs = int(query("select count(*) from jobs where status = 'failed'")[0][0])
    a.stop()
    b.stop()

    active = ",".join(f"'{s}'" for s in ACTIVE)
    overlaps = int(query(
        f"select count(*) from reservations x join reservations y on x.unit_id = y.unit_id and x.id < y.id "
        f"where x.status in ({active}) and y.status in ({active}) and x.check_in < y.check_out and y.check_in < x.check_out")[0][0])
    rows = {phone: (code, status) for code, status, phone in query("select code, status, guest_phone from reservations")}
    seen_201 = {p: o[1] for p, o in outcome.items() if o[0] == "201"}
    missing = [p for p, code in seen_201.items() if rows.get(p, (None,))[0] != code]
    unexplained = [p for p in rows if p not in seen_201 and outcome.get(p, ("?",))[0] != "lost"]
    lost_but_stored = [p for p in rows if outcome.get(p, ("?",))[0] == "lost"]
    wrongly_active = [c for c in cancelled if c not in {code for code, st in rows.values() if st == "cancelled"}]
    report = {
        "engine": args.engine,
        "requests": len(plan),
        "seconds": round(elapsed, 1),
        "requests_per_second": round(len(plan) / elapsed, 1),
        "answers": {str(k): v for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))},
        "cancelled": len(cancelled),
        "killed_instance_a": killed.is_set(),
        "overlaps": overlaps,
        "201_missing_from_database": len(missing),
        "rows_without_a_201_or_a_lost_answer": len(unexplained),
        "rows_whose_answer_was_lost_in_the_kill": len(lost_but_stored),
        "cancellations_not_in_the_database": len(wrongly_active),
        "jobs_due_left": pending_due,
        "jobs_failed": failed_jobs,
    }
    print(json.dumps(report, indent=2))
    ok = overlaps == 0 and not missing and not unexplained and not wrongly_active and pending_due == 0 and failed_jobs == 0
    if args.engine == "postgres":
        subprocess.run(["psql", args.pg, "-qc", f"drop database {db} with (force)"], check=False)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
