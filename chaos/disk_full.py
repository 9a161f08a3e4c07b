#!/usr/bin/env python3
"""The SQLite file's disk fills up under load, then space comes back.

    python3 chaos/disk_full.py            (as root: it mounts a small tmpfs)

One `posada serve` (SQLite, sandbox payments on, worker running) keeps its database on a tmpfs of
--size MiB. Clients place holds and ask for availability; after a few seconds a ballast file
takes all the free space. Then, while the disk is full, the script checks that
  * writes fail with a clear answer: 503 with `Retry-After` and code `storage_full` (or
    `unavailable`), never 500, never a dropped connection;
  * reads (availability) still answer 200;
  * the process stays up, and `healthz` says degraded (database "full");
and, after the ballast is removed, that writes succeed again without restarting Posada. Finally
(Posada stopped) `PRAGMA integrity_check` must say ok, and every 201 a client saw must be a row
(each request has its own phone number) and every row a 201.
"""
import argparse
import http.client
import os
import shutil
import sqlite3
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
    ap.add_argument("--size", type=int, default=24, help="tmpfs size in MiB")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--before", type=float, default=5, help="seconds of load before the disk fills")
    ap.add_argument("--full", type=float, default=20, help="seconds the disk stays full")
    ap.add_argument("--after", type=float, default=10, help="seconds of load after space returns")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the script mounts a tmpfs")
    work = tempfile.mkdtemp(prefix="posada-full-")
    mnt = os.path.join(work, "disk")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size}m", "tmpfs", mnt], check=True)
    ballast = os.path.join(mnt, "ballast")
    try:
        failures = run(args, work, mnt, ballast)
    finally:
        subprocess.run(["umount", mnt])
    print("FAIL: " + "; ".join(failures) if failures else "PASS")
    if failures:
        print(f"logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


def run(args, work, mnt, ballast):
    db = os.path.join(mnt, "posada.db")
    env = dict(os.environ, POSADA_DATABASE_URL=f"sqlite://{db}", POSADA_DATA_DIR=work,
               POSADA_JWT_SECRET="chaos-" + "x" * 40, POSADA_ADMIN_EMAIL="duena@example.com",
               POSADA_ADMIN_PASSWORD="una-clave-larga-de-prueba", POSADA_SANDBOX="true",
               POSADA_PAYMENT_PROVIDER="sandbox", POSADA_RATE_LIMIT_PER_MIN="0",
               POSADA_MAX_HOLDS_PER_ADDRESS="0", POSADA_MAX_HOLDS_PER_CONTACT="0", POSADA_LOG="warn")
    s = Instance(args.binary, env, "serve", work)
    s.start()
    try:
        return load(args, s, env, db, ballast)
    finally:
        s.stop() if s.proc.poll() is None else None


def load(args, s, env, db, ballast):
    setup = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    _, login = call(setup, "POST", "/api/v1/admin/login",
                    {"email": env["POSADA_ADMIN_EMAIL"], "password": env["POSADA_ADMIN_PASSWORD"]})
    token = login["access_token"]
    cabins = []
    for i in range(6):
        _, c = call(setup, "POST", "/api/v1/admin/accommodations",
                    {"name": f"Cabaña {i + 1}", "capacity": 6, "base_price": 50000}, token)
        cabins.append(c["id"])

    phase = {"name": "before"}
    lock = threading.Lock()
    seen = {}  # (phase, what, status or code) -> n
    created = set()  # phones that got a 201
    asked = set()  # phones sent (answer lost or not)
    stop = threading.Event()

    def note(what, status, code=None):
        key = (phase["name"], what, f"{status}" + (f" {code}" if code else ""))
        with lock:
            seen[key] = seen.get(key, 0) + 1

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
        n = 0
        while not stop.is_set():
            n += 1
            phone = f"+54929{k:02d}{n:06d}"
            start = date.today() + timedelta(days=30 + (n * 7 + k) % 400)
            body = {"accommodation_id": cabins[(n + k) % len(cabins)], "check_in": start.isoformat(),
                    "check_out": (start + timedelta(days=1)).isoformat(), "guests": 2, "channel": "api",
                    "contact_name": "Huésped de prueba " * 8, "contact_phone": phone}
            try:
                with lock:
                    asked.add(phone)
                status, data = call(conn, "POST", "/api/v1/reservations/pre-reserve", body)
                retry = conn.sock is not None
                code = (data or {}).get("error", {}).get("code") if status >= 400 else None
                note("hold", status, code)
                if status == 201:
                    with lock:
                        created.add(phone)
                if status == 503 and retry:
                    time.sleep(0.05)
                status, _ = call(conn, "GET", f"/api/v1/availability?check_in={start}&check_out="
                                 f"{start + timedelta(days=1)}&guests=2")
                note("availability", status)
            except (OSError, http.client.HTTPException) as e:
                note("hold", "error", type(e).__name__)
                conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(args.before)
    phase["name"] = "full"
    # Take every free byte: writes hit ENOSPC from here on.
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    for size in (1 << 20, 4096, 512):
        try:
            while True:
                os.write(fd, b"\0" * size)
        except OSError:
            pass
    os.close(fd)
    full_at = time.time()
    health = []
    while time.time() - full_at < args.full:
        try:
            h = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            st, body = call(h, "GET", "/api/v1/healthz")
            health.append((st, (body or {}).get("status")))
        except OSError as e:
            health.append(("error", str(e)))
        time.sleep(1)
    alive_while_full = s.proc.poll() is None
    os.remove(ballast)
    phase["name"] = "after"
    time.sleep(args.after)
    stop.set()
    for t in threads:
        t.join()
    s.stop()

    print(f"\n{'phase':8} {'what':13} {'answer':28} {'count':>7}")
    for (ph, what, ans), n in sorted(seen.items()):
        print(f"{ph:8} {what:13} {ans:28} {n:7}")
    print("healthz while full:", sorted(set(health)))

    check = sqlite3.connect(db)
    integrity = check.execute("PRAGMA integrity_check").fetchall()
    rows = {r[0] for r in check.execute("SELECT guest_phone FROM reservations WHERE guest_phone LIKE '+54929%'")}
    check.close()
    missing = created - rows
    extra = rows - created
    full_holds = {a: n for (ph, w, a), n in seen.items() if ph == "full" and w == "hold"}
    after_ok = seen.get(("after", "hold", "201"), 0)
    failures = []
    if any(a.startswith("5") and not a.startswith("503") for a in full_holds) or any(
            a.startswith("500") for (_, _, a) in seen):
        failures.append("a 5xx other than 503")
    if not any(a.startswith("503") for a in full_holds):
        failures.append("no 503 while the disk was full (did it fill?)")
    if any(a.startswith("error") for (_, _, a) in seen):
        failures.append("a dropped connection")
    if seen.get(("full", "availability", "200"), 0) == 0:
        failures.append("reads stopped while the disk was full")
    if not any(h[1] == "degraded" for h in health):
        failures.append("healthz never said degraded while the disk was full")
    if not alive_while_full:
        failures.append("the process died")
    if after_ok == 0:
        failures.append("writes did not come back after space returned")
    if integrity != [("ok",)]:
        failures.append(f"integrity_check: {integrity[:3]}")
    if missing:
        failures.append(f"{len(missing)} 201s not in the database")
    if extra:
        failures.append(f"{len(extra)} rows without a 201")
    print(f"integrity_check: {integrity[0][0]}; 201s: {len(created)}, rows: {len(rows)}, missing: {len(missing)}, "
          f"extra: {len(extra)}")
    return failures


if __name__ == "__main__":
    main()
