#!/usr/bin/env python3
"""WhatsApp and Mercado Pago down for minutes while 20 guests write.

    python3 chaos/outage.py --engine postgres
    python3 chaos/outage.py --engine sqlite

Not part of CI (docs/reliability.md has the figures and how to read them). Standard library only;
PostgreSQL is read through `psql`. One `posada serve` (worker running) talks to two local fakes
that speak the real protocols: the Graph API (`POST /{version}/{phone-number-id}/messages`, media
metadata and download) and Mercado Pago (`POST /checkout/preferences`, `GET /v1/payments/{id}`,
`GET /users/me`). 20 guests write through signed webhooks (hello, dates, party, a cabin, yes → a
hold → the payment link → some pay, with Meta's redeliveries), before, during and after an outage
of both fakes: first every call answers 5xx, then the port refuses connections. Meanwhile
`healthz` is polled every second. After recovery the queue drains, then the script checks:

  * every outbox row (per contact, in the database) reached the Graph API exactly once: each
    accepted send's `wamid` is recorded on exactly one row and every row has one, with the same
    recipient and text; per contact the accepted sends come in the rows' order;
  * nothing failed for good (no failed message, no failed job, nothing due left);
  * every signed webhook got 200, every guest message is stored once (redeliveries ignored);
  * every hold has a payment link, and that link reached its guest; each paid hold is
    confirmed and its guest was told once;
  * `healthz` said degraded (not healthy) throughout the outage once the oldest reply was older
    than its threshold, and healthy again once drained.
"""
import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from holds import Instance, call, free_port  # noqa: E402

APP_SECRET = "chaos-app-secret-5b1e"
GRAPH_TOKEN = "chaos-graph-token"
PHONE_NUMBER_ID = "109876543210"
API_VERSION = "v21.0"
MP_TOKEN = "APP_USR-chaos"
MP_SECRET = "chaos-mp-webhook-secret"
OWNER = "5492944000000"
MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
          "noviembre", "diciembre"]


# ---------------------------------------------------------------------------------------------
# The fakes

class Fake:
    """A local HTTP server that can answer, answer 5xx, or refuse connections (port closed)."""

    def __init__(self, name, routes):
        self.name, self.routes = name, routes
        self.port = free_port()
        self.mode = "ok"  # ok | 5xx | refuse
        self.lock = threading.Lock()
        self.log = []  # every request it saw: dict(t, method, path, status, ...)
        self.seq = 0
        self.server = None
        self.thread = None
        self._listen()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def _listen(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                entry = {"t": time.time(), "method": self.command, "path": self.path,
                         "auth": self.headers.get("authorization", ""), "body": raw}
                if fake.mode == "5xx":
                    status, body = fake.failure(entry)
                else:
                    status, body = fake.answer(entry)
                entry["status"] = status
                with fake.lock:
                    fake.seq += 1
                    entry["seq"] = fake.seq
                    fake.log.append(entry)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def answer(self, entry):
        for method, pattern, fn in self.routes:
            m = re.fullmatch(pattern, entry["path"].split("?")[0])
            if m and method == entry["method"]:
                return fn(entry, *m.groups())
        return 404, {"error": {"message": f"Unknown path {entry['path']}", "code": 100}}

    def failure(self, entry):
        status = 500 if self.seq % 2 else 503
        if self.name == "graph":
            return status, {"error": {"message": "An unexpected error has occurred. Please retry your request later.",
                                      "type": "OAuthException", "is_transient": True, "code": 2,
                                      "fbtrace_id": f"Chaos{self.seq}"}}
        return status, {"message": "internal_error", "error": "internal_server_error", "status": status, "cause": []}

    def set_mode(self, mode):
        if mode == "refuse" and self.mode != "refuse":
            self.server.shutdown()
            self.server.server_close()
        elif mode != "refuse" and self.mode == "refuse":
            self._listen()
        self.mode = mode

    def entries(self, method=None, pattern=None):
        with self.lock:
            rows = list(self.log)
        return [e for e in rows if (method is None or e["method"] == method)
                and (pattern is None or re.fullmatch(pattern, e["path"].split("?")[0]))]


def graph_fake():
    counter = {"n": 0}
    lock = threading.Lock()

    def send(entry, phone_id):
        if entry["auth"] != f"Bearer {GRAPH_TOKEN}":
            return 401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}
        body = json.loads(entry["body"] or b"{}")
        entry["json"] = body
        if body.get("messaging_product") != "whatsapp" or not body.get("to") or phone_id != PHONE_NUMBER_ID:
            return 400, {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}
        with lock:
            counter["n"] += 1
            wamid = f"wamid.CHAOS{counter['n']:06d}"
        entry["wamid"] = wamid
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                     "messages": [{"id": wamid}]}

    def media(entry, media_id):
        if media_id == PHONE_NUMBER_ID:
            return 200, {"display_phone_number": "+54 9 2944 99-9999", "verified_name": "Caos", "id": PHONE_NUMBER_ID}
        return 200, {"messaging_product": "whatsapp", "url": f"{fake.base}/lookaside/{media_id}",
                     "mime_type": "audio/ogg; codecs=opus", "file_size": "4", "id": media_id}

    def lookaside(entry, media_id):
        return 200, "OggS"

    fake = Fake("graph", [
        ("POST", rf"/{API_VERSION}/([^/]+)/messages", send),
        ("GET", rf"/{API_VERSION}/([^/]+)", media),
        ("GET", r"/lookaside/([^/]+)", lookaside),
    ])
    return fake


def mp_fake():
    state = {"n": 0, "payments": {}}
    lock = threading.Lock()

    def preference(entry):
        if entry["auth"] != f"Bearer {MP_TOKEN}":
            return 401, {"message": "invalid access token", "error": "unauthorized", "status": 401}
        body = json.loads(entry["body"] or b"{}")
        entry["json"] = body
        with lock:
            state["n"] += 1
            pref = f"123456789-chaos{state['n']:05d}"
        entry["preference_id"] = pref
        url = f"https://www.mercadopago.com.ar/checkout/v1/redirect?pref_id={pref}"
        return 201, {"id": pref, "init_point": url, "sandbox_init_point": url.replace("www.", "sandbox."),
                     "external_reference": body.get("external_reference"), "items": body.get("items"),
                     "collector_id": 123456789, "date_created": datetime.now(timezone.utc).isoformat()}

    def payment(entry, pid):
        if entry["auth"] != f"Bearer {MP_TOKEN}":
            return 401, {"message": "invalid access token", "error": "unauthorized", "status": 401}
        with lock:
            p = state["payments"].get(pid)
        if p is None:
            return 404, {"message": "Payment not found", "error": "not_found", "status": 404, "cause": []}
        return 200, p

    def me(entry):
        return 200, {"id": 123456789, "nickname": "CAOS", "site_id": "MLA"}

    fake = Fake("mercadopago", [
        ("POST", r"/checkout/preferences", preference),
        ("GET", r"/v1/payments/([^/]+)", payment),
        ("GET", r"/users/me", me),
    ])
    fake.payments = state["payments"]
    fake.payments_lock = lock
    return fake


# ---------------------------------------------------------------------------------------------
# Guests

def date_words(d):
    return f"{d.day} de {MONTHS[d.month - 1]}"


def envelope(phone, name, message):
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA-CHAOS", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5492944999999", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": phone}],
        "messages": [message],
    }}]}]}


class Webhooks:
    """Posts signed webhooks and remembers every answer."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.answers = {}  # status -> count
        self.posted = {}  # wamid -> phone (answered 200 at least once)
        self.mp_answers = {}

    def _post(self, path, raw, headers):
        for attempt in range(5):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                c.request("POST", path, body=raw, headers=headers)
                r = c.getresponse()
                r.read()
                c.close()
                return r.status
            except (OSError, http.client.HTTPException):
                time.sleep(1)
        return "error"

    def whatsapp(self, phone, name, wamid, text):
        message = {"from": phone, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}
        raw = json.dumps(envelope(phone, name, message)).encode()
        sig = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        status = self._post("/api/v1/webhooks/whatsapp", raw, {"content-type": "application/json", "x-hub-signature-256": sig})
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1
            if status == 200:
                self.posted[wamid] = phone
        return status

    def mercadopago(self, payment_id, request_id):
        ts = str(int(time.time() * 1000))
        manifest = f"id:{payment_id.lower()};request-id:{request_id};ts:{ts};"
        v1 = hmac.new(MP_SECRET.encode(), manifest.encode(), hashlib.sha256).hexdigest()
        raw = json.dumps({"action": "payment.updated", "api_version": "v1", "type": "payment",
                          "data": {"id": payment_id}, "live_mode": True}).encode()
        status = self._post(f"/api/v1/webhooks/mercadopago?data.id={payment_id}&type=payment", raw,
                            {"content-type": "application/json", "x-request-id": request_id,
                             "x-signature": f"ts={ts},v1={v1}"})
        with self.lock:
            self.mp_answers[status] = self.mp_answers.get(status, 0) + 1
        return status


def sent_text(body):
    """What a Graph API send shows the guest (what the outbox row's payload says)."""
    kind = body.get("type")
    if kind == "text":
        return body["text"]["body"]
    if kind == "interactive":
        return body["interactive"]["body"]["text"]
    if kind == "image":
        return body["image"].get("caption") or ""
    if kind == "template":
        return " | ".join(p.get("text", "") for c in body["template"].get("components", []) for p in c.get("parameters", []))
    return ""


def row_text(kind, payload):
    if kind == "photo":
        return payload.get("caption") or ""
    return payload.get("text") or ""


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--binary", default="target/release/posada")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--guests", type=int, default=20)
    ap.add_argument("--before", type=int, default=45, help="seconds of normal service before the outage")
    ap.add_argument("--outage", type=int, default=130, help="seconds both fakes fail (first half 5xx, then refused)")
    ap.add_argument("--after", type=int, default=45, help="seconds guests keep writing after recovery")
    ap.add_argument("--drain", type=int, default=600, help="seconds allowed for the queue to drain")
    ap.add_argument("--keep", action="store_true", help="keep the database and the work directory")
    args = ap.parse_args()
    rnd = random.Random(13)
    work = tempfile.mkdtemp(prefix="posada-outage-")
    if args.engine == "postgres":
        db = f"posada_outage_{os.getpid()}"
        subprocess.run(["psql", args.pg, "-qc", f"create database {db}"], check=True)
        url = args.pg.rsplit("/", 1)[0] + "/" + db
    else:
        url = f"sqlite://{work}/posada.db"

    graph, mp = graph_fake(), mp_fake()
    # Nothing from the caller's shell (a sandbox flag, a test database) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSADA_")}
    env.update(
        POSADA_DATABASE_URL=url,
        POSADA_DATA_DIR=work,
        POSADA_JWT_SECRET="chaos-" + "x" * 40,
        POSADA_ADMIN_EMAIL="duena@example.com",
        POSADA_ADMIN_PASSWORD="una-clave-larga-de-prueba",
        POSADA_RATE_LIMIT_PER_MIN="0",
        POSADA_LOG="warn",
        POSADA_WHATSAPP_VERIFY_TOKEN="chaos-verify",
        POSADA_WHATSAPP_APP_SECRET=APP_SECRET,
        POSADA_WHATSAPP_ACCESS_TOKEN=GRAPH_TOKEN,
        POSADA_WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        POSADA_WHATSAPP_API_BASE=graph.base,
        POSADA_WHATSAPP_API_VERSION=API_VERSION,
        POSADA_OWNER_PHONE=OWNER,
        POSADA_PAYMENT_PROVIDER="mercadopago",
        POSADA_MERCADOPAGO_ACCESS_TOKEN=MP_TOKEN,
        POSADA_MERCADOPAGO_WEBHOOK_SECRET=MP_SECRET,
        POSADA_MERCADOPAGO_API_BASE=mp.base,
        POSADA_METRICS_TOKEN="chaos-metrics-token",
    )
    serve = Instance(args.binary, env, "serve", work)
    serve.start()
    setup = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=30)
    status, login = call(setup, "POST", "/api/v1/admin/login", {"email": env["POSADA_ADMIN_EMAIL"], "password": env["POSADA_ADMIN_PASSWORD"]})
    assert status == 200, login
    for name, capacity, price in [("Coihue", 2, 40000), ("Arrayán", 4, 60000), ("Cabaña Grande", 6, 90000)]:
        status, body = call(setup, "POST", "/api/v1/admin/accommodations",
                            {"name": name, "capacity": capacity, "base_price": price, "min_nights": 1}, login["access_token"])
        assert status == 201, body

    def query(sql):
        if args.engine == "postgres":
            out = subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True).stdout
            return [line.split("|") for line in out.splitlines() if line]
        con = sqlite3.connect(f"{work}/posada.db", timeout=30)
        rows = [[("" if c is None else str(c)) for c in row] for row in con.execute(sql)]
        con.close()
        return rows

    hooks = Webhooks(serve.port)
    t0 = time.time()
    outage_at = t0 + args.before
    refuse_at = outage_at + args.outage / 2
    recover_at = outage_at + args.outage
    stop_writing_at = recover_at + args.after
    phase = {"name": "before"}

    def phase_of(t):
        return "before" if t < outage_at else "outage" if t < recover_at else "after"

    # -- health, every second ------------------------------------------------------------------
    health = []  # (t, phase, http status, status, outbox status, queued, oldest age, breakers)
    health_stop = threading.Event()

    def poll_health():
        while not health_stop.is_set():
            t = time.time()
            try:
                c = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=10)
                code, h = call(c, "GET", "/api/v1/healthz")
                c.close()
                checks = h.get("checks", {})
                health.append((t, phase_of(t), code, h.get("status"), checks.get("outbox", {}).get("status"),
                               checks.get("outbox", {}).get("queued", 0), checks.get("outbox", {}).get("oldest_age_s", 0.0),
                               checks.get("breakers", {})))
            except (OSError, http.client.HTTPException, ValueError) as e:
                health.append((t, phase_of(t), "error", str(e), None, 0, 0.0, {}))
            health_stop.wait(1.0)

    # -- CPU used by the server in each phase ----------------------------------------------------
    def cpu_s():
        with open(f"/proc/{serve.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def job_runs():
        """jobs_processed_total by kind, from /metrics."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=10)
            c.request("GET", "/metrics", headers={"authorization": "Bearer chaos-metrics-token"})
            text = c.getresponse().read().decode()
            c.close()
        except (OSError, http.client.HTTPException):
            return {}
        runs = {}
        for line in text.splitlines():
            m = re.match(r'jobs_processed_total\{(.*)\} (\S+)$', line)
            if m:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                runs[labels.get("kind")] = runs.get(labels.get("kind"), 0) + float(m.group(2))
        return runs

    cpu, runs = {}, {}

    def sample(name):
        cpu[name], runs[name] = cpu_s(), job_runs()

    # -- the outage ------------------------------------------------------------------------------
    def chaos():
        sample("start")
        time.sleep(max(0, outage_at - time.time()))
        sample("outage")
        phase["name"] = "outage-5xx"
        graph.set_mode("5xx")
        mp.set_mode("5xx")
        time.sleep(max(0, refuse_at - time.time()))
        phase["name"] = "outage-refused"
        graph.set_mode("refuse")
        mp.set_mode("refuse")
        time.sleep(max(0, recover_at - time.time()))
        sample("recovered")
        graph.set_mode("ok")
        mp.set_mode("ok")
        phase["name"] = "after"

    # -- the guests ------------------------------------------------------------------------------
    today = date.today()
    guests = []
    for i in range(args.guests):
        check_in = today + timedelta(days=30 + 3 * i)
        guests.append({
            "i": i,
            "phone": f"54911{55000000 + i:08d}",
            "name": ["Juana", "Martín", "Sofía", "Lucas", "Valentina", "Mateo", "Camila", "Benjamín", "Lucía", "Tomás"][i % 10]
            + " " + ["Pérez", "Gómez", "Rodríguez", "Fernández", "López", "Díaz", "Martínez", "Sosa", "Romero", "Ruiz"][(i // 10) % 10],
            "check_in": check_in,
            "check_out": check_in + timedelta(days=2),
            "fast": i < 5,
            "paid": None,
        })
    paid = {}  # code -> payment id
    guest_lock = threading.Lock()

    def link_for(phone):
        """The payment link this guest has seen, if any (an accepted send to them with one)."""
        for e in graph.entries("POST"):
            if e.get("wamid") and e["json"].get("to") == phone:
                m = re.search(r"https://www\.mercadopago\.com\.ar/checkout/v1/redirect\?pref_id=([\w-]+)", sent_text(e["json"]))
                if m:
                    return m.group(1)
        return None

    def pay(g, pref_id):
        pref = next((e for e in mp.entries("POST", r"/checkout/preferences") if e.get("preference_id") == pref_id), None)
        if pref is None:
            return
        body = pref["json"]
        pid = str(90000000 + g["i"])
        with mp.payments_lock:
            mp.payments[pid] = {"id": int(pid), "status": "approved", "status_detail": "accredited",
                                "transaction_amount": body["items"][0]["unit_price"], "currency_id": "ARS",
                                "external_reference": body["external_reference"], "date_approved": datetime.now(timezone.utc).isoformat(),
                                "payment_type_id": "credit_card", "preference_id": pref_id}
        with guest_lock:
            paid[body["external_reference"]] = pid
            g["paid"] = time.time()
        # Mercado Pago sends several notifications for one payment (created, updated).
        hooks.mercadopago(pid, f"req-{pid}-1")
        time.sleep(0.5)
        hooks.mercadopago(pid, f"req-{pid}-2")

    def guest(g):
        r = random.Random(g["i"])
        lines = [
            r.choice(["hola!", "Hola, buenas tardes", "buen día", "hola, consulta"]),
            f"tienen lugar del {date_words(g['check_in'])} al {date_words(g['check_out'])}?",
            r.choice(["somos 2", "vamos 2", "2 personas"]),
            r.choice(["la grande", "la cabaña grande"]),
            r.choice(["dale", "sí, reservala", "dale, reservámela"]),
            "cómo pago?",
            "gracias!",
        ]
        start = t0 + g["i"] * 1.5
        if g["fast"]:
            gap = 4.0
        else:
            gap = (recover_at + args.after * 0.7 - start) / len(lines)
        at = start
        for k, line in enumerate(lines):
            at += gap * (0.8 + 0.4 * r.random()) if k else 0
            time.sleep(max(0, at - time.time()))
            wamid = f"wamid.IN.{g['phone']}.{k}"
            hooks.whatsapp(g["phone"], g["name"], wamid, line)
            if r.random() < 0.15:
                # Meta delivers some webhooks again (it did not see our 200 in time).
                time.sleep(r.uniform(0.2, 2.0))
                hooks.whatsapp(g["phone"], g["name"], wamid, line)
        # The guest pays once the link reached them; the fast ones while both providers are down.
        deadline = recover_at + args.drain
        earliest = outage_at + 10 + 6 * g["i"] if g["fast"] else 0
        while time.time() < deadline and not health_stop.is_set():
            pref = link_for(g["phone"])
            if pref and time.time() >= earliest:
                time.sleep(r.uniform(2, 6))
                pay(g, pref)
                return
            time.sleep(2)

    threads = [threading.Thread(target=chaos, daemon=True), threading.Thread(target=poll_health, daemon=True)]
    threads += [threading.Thread(target=guest, args=(g,), daemon=True) for g in guests]
    for t in threads:
        t.start()
    for t in threads[2:]:
        # Guests end after paying (or at the drain deadline).
        t.join()
    print(f"guests done at {time.time() - t0:.0f} s", flush=True)

    # -- drain -----------------------------------------------------------------------------------
    now_sql = "now()" if args.engine == "postgres" else "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
    due_sql = f"select count(*) from jobs where status in ('pending','running') and run_at <= {now_sql}"
    queued_sql = "select count(*) from messages where direction = 'out' and status = 'queued'"
    deadline = recover_at + args.drain
    while time.time() < deadline:
        if int(query(queued_sql)[0][0]) == 0 and int(query(due_sql)[0][0]) == 0 and \
                int(query("select count(*) from inbound_events where processed_at is null")[0][0]) == 0:
            break
        time.sleep(1)
    drained_at = time.time()
    time.sleep(3)  # a last health sample after the drain
    health_stop.set()
    threads[1].join()
    sample("end")
    serve.stop()

    # -- checks ----------------------------------------------------------------------------------
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)
        return ok

    contacts = {cid: addr for cid, addr in query("select id, address from contacts where channel = 'whatsapp'")}
    out_rows = query("select id, contact_id, kind, status, coalesce(provider_message_id, ''), payload, created_at "
                     "from messages where direction = 'out' order by id")
    accepted = [e for e in graph.entries("POST") if e.get("wamid")]
    by_wamid = {e["wamid"]: e for e in accepted}
    row_of_wamid = {}
    problems = {"not_sent": [], "no_wamid": [], "wamid_twice": [], "wrong_recipient": [], "wrong_text": []}
    for mid, cid, kind, st, wamid, payload, created in out_rows:
        payload = json.loads(payload)
        if st not in ("sent", "delivered", "read"):
            problems["not_sent"].append((mid, st))
            continue
        if wamid not in by_wamid:
            problems["no_wamid"].append(mid)
            continue
        if wamid in row_of_wamid:
            problems["wamid_twice"].append(mid)
        row_of_wamid[wamid] = int(mid)
        e = by_wamid[wamid]
        if e["json"].get("to") != contacts.get(cid):
            problems["wrong_recipient"].append(mid)
        if sent_text(e["json"]) != row_text(kind, payload) and e["json"].get("type") != "template":
            problems["wrong_text"].append(mid)
    extra = [w for w in by_wamid if w not in row_of_wamid]  # accepted sends no row owns: duplicates
    out_of_order = []
    per_recipient = {}
    for e in sorted(accepted, key=lambda e: e["seq"]):
        per_recipient.setdefault(e["json"]["to"], []).append(row_of_wamid.get(e["wamid"], -1))
    for to, ids in per_recipient.items():
        if ids != sorted(ids):
            out_of_order.append(to)
    for k, v in problems.items():
        check(not v, f"outbox rows {k}: {v[:10]}")
    check(not extra, f"{len(extra)} accepted sends belong to no outbox row (duplicates): {extra[:5]}")
    check(not out_of_order, f"replies out of order for {out_of_order}")

    # Inbound: every guest message answered 200 is stored once, processed.
    inbound = query("select provider_id, processed_at is not null from inbound_events where provider = 'whatsapp'")
    stored_ids = [p for p, _ in inbound]
    check(sorted(stored_ids) == sorted(hooks.posted), f"inbound events {len(stored_ids)} vs guest messages {len(hooks.posted)}")
    check(all(done in ("t", "1") for _, done in inbound), "unprocessed inbound events")
    in_rows = int(query("select count(*) from messages where direction = 'in'")[0][0])
    check(in_rows == len(hooks.posted), f"{in_rows} inbound message rows for {len(hooks.posted)} guest messages")
    check(set(hooks.answers) == {200}, f"webhook answers {hooks.answers}")
    check(set(hooks.mp_answers) <= {200}, f"Mercado Pago webhook answers {hooks.mp_answers}")

    # Holds, links, payments.
    holds = query("select r.code, r.status, r.guest_phone, coalesce(l.url, '') from reservations r "
                  "left join payment_links l on l.reservation_id = r.id order by r.id")
    check(len(holds) == args.guests, f"{len(holds)} holds for {args.guests} guests")
    delivered_texts = {}
    for e in accepted:
        delivered_texts.setdefault(e["json"]["to"], []).append(sent_text(e["json"]))
    prefs = {}
    for e in mp.entries("POST", r"/checkout/preferences"):
        if e.get("preference_id"):
            ref = e["json"].get("external_reference")
            prefs[ref] = prefs.get(ref, 0) + 1
    for code, st, phone, link in holds:
        check(bool(link), f"hold {code} has no payment link")
        wa = phone.lstrip("+")
        check(any(link and link in t for t in delivered_texts.get(wa, [])), f"the link of {code} never reached {wa}")
        check(prefs.get(code) == 1, f"{prefs.get(code, 0)} preferences created for {code}")
        if code in paid:
            check(st == "confirmed", f"paid hold {code} is {st}")
            told = sum(1 for t in delivered_texts.get(wa, []) if "confirmada" in t and code in t)
            check(told == 1, f"guest of {code} told {told} times it is confirmed")
    failed_jobs = query("select kind, coalesce(last_error, '') from jobs where status = 'failed'")
    check(not failed_jobs, f"failed jobs: {failed_jobs[:5]}")
    due_left = int(query(due_sql)[0][0])
    check(due_left == 0, f"{due_left} jobs due left")
    check(drained_at < deadline, "the queue did not drain in time")

    # Health.
    max_age = 60
    strict_from = outage_at + max_age + 5
    during = [h for h in health if strict_from <= h[0] < recover_at]
    healthy_during = [h for h in during if h[3] != "degraded"]
    check(during and not healthy_during, f"healthz not degraded during the outage: {[(round(h[0] - t0), h[3]) for h in healthy_during][:10]}")
    first_degraded = next((h[0] for h in health if h[0] >= outage_at and h[3] == "degraded"), None)
    check(health and health[-1][3] == "healthy", f"healthz after the drain: {health[-1][3] if health else None}")
    states = {}
    for h in health:
        key = f"{h[1]}:{h[3]}"
        states[key] = states.get(key, 0) + 1
    breaker_states = {}
    for h in health:
        for name, s in h[7].items():
            breaker_states.setdefault(name, set()).add(s)

    backlog_rows = [r for r in out_rows if r[4] in by_wamid and by_wamid[r[4]]["t"] >= recover_at
                    and parse_time(r[6]) < recover_at]
    last_backlog = max((by_wamid[r[4]]["t"] for r in backlog_rows), default=recover_at)
    graph_calls = graph.entries("POST")
    report = {
        "engine": args.engine,
        "guests": args.guests,
        "phases_s": {"before": args.before, "outage_5xx": args.outage / 2, "outage_refused": args.outage / 2,
                     "after_writing": args.after},
        "guest_messages_in": len(hooks.posted),
        "webhook_posts": sum(hooks.answers.values()),
        "webhook_answers": {str(k): v for k, v in hooks.answers.items()},
        "mercadopago_notifications": {str(k): v for k, v in hooks.mp_answers.items()},
        "outbox_rows": len(out_rows),
        "replies_accepted_by_graph": len(accepted),
        "graph_calls_answered_5xx": sum(1 for e in graph_calls if e["status"] >= 500),
        "preferences_created": sum(prefs.values()),
        "mp_calls_answered_5xx": sum(1 for e in mp.entries() if e["status"] >= 500),
        "holds": len(holds),
        "paid_and_confirmed": sum(1 for c, st, _, _ in holds if c in paid and st == "confirmed"),
        "paid_during_outage": sum(1 for g in guests if g["paid"] and outage_at <= g["paid"] < recover_at),
        "duplicates": len(extra) + len(problems["wamid_twice"]),
        "out_of_order_contacts": len(out_of_order),
        "failed_messages": len(problems["not_sent"]),
        "failed_jobs": len(failed_jobs),
        "max_outbox_queued": max((h[5] for h in health), default=0),
        "max_oldest_reply_age_s": max((h[6] for h in health), default=0),
        "backlog_rows_sent_after_recovery": len(backlog_rows),
        "backlog_delivered_s_after_recovery": round(last_backlog - recover_at, 1),
        "queue_drained_s_after_recovery": round(drained_at - recover_at, 1),
        "healthz_degraded_s_after_outage_start": round(first_degraded - outage_at, 1) if first_degraded else None,
        "healthz_samples": states,
        "breaker_states_seen": {k: sorted(v) for k, v in breaker_states.items()},
        "server_cpu_s": spans(cpu),
        "job_runs": {phase: {k: int(v) for k, v in sorted(kinds.items()) if v} for phase, kinds in spans_by_kind(runs).items()},
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    for f in failures:
        print("FAIL:", f)
    if not args.keep:
        if args.engine == "postgres":
            subprocess.run(["psql", args.pg, "-qc", f"drop database {db} with (force)"], check=False)
    else:
        print("kept:", work, url)
    print("PASS" if not failures else "FAIL")
    sys.exit(0 if not failures else 1)


def spans(samples):
    """CPU seconds per phase from cumulative samples."""
    return {"before": round(samples["outage"] - samples["start"], 1),
            "outage": round(samples["recovered"] - samples["outage"], 1),
            "after": round(samples["end"] - samples["recovered"], 1)}


def spans_by_kind(samples):
    out = {}
    for phase, (a, b) in {"before": ("start", "outage"), "outage": ("outage", "recovered"), "after": ("recovered", "end")}.items():
        out[phase] = {k: samples[b].get(k, 0) - samples[a].get(k, 0) for k in samples[b]}
    return out


def parse_time(text):
    """A timestamp as PostgreSQL or SQLite prints it → epoch seconds."""
    text = text.strip().replace(" ", "T", 1)
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d(:?\d\d)?)?$", text)
    if not m:
        raise ValueError(text)
    frac = float(m.group(2) or 0)
    tz = m.group(3) or "Z"
    if tz == "Z":
        tz = "+00:00"
    elif len(tz) == 3:
        tz += ":00"
    elif ":" not in tz:
        tz = tz[:3] + ":" + tz[3:]
    return datetime.fromisoformat(m.group(1) + tz).timestamp() + frac


if __name__ == "__main__":
    main()
