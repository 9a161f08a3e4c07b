#!/usr/bin/env python3
"""N signed WhatsApp webhooks, each a text message "hola" from a DIFFERENT contact, over C
keep-alive connections (standard library only: asyncio + hmac).

    wa_webhooks.py <base_url> <app_secret> <n> <conns> <tag> [timeout_s=60]

Every body is built and signed (X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw
body)>) before the clock starts. Contact k is wa_id 549<tag><k:08d>, its message id
wamid.bench<tag>.<k>, so runs with different tags never collide. The C connections take the next
unsent body until all N are sent. Prints one line:
WEBHOOKS n=... conns=... ok200=... non200=... errors=... first_sent_epoch=... last_ack_epoch=...
  duration_s=... ack_per_s=... p50_ms=... p95_ms=... p99_ms=... max_ms=...
(epochs are the wall clock, UTC seconds, to compare with the server's timestamps).
"""
import asyncio
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
from collections import Counter


def build(app_secret: bytes, k: int, tag: str, host: str) -> bytes:
    wa_id = f"549{tag}{k:08d}"
    body = json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "W", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "contacts": [{"profile": {"name": f"Bench {k}"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.bench{tag}.{k}", "timestamp": "1",
                          "type": "text", "text": {"body": "hola"}}],
        }}]}],
    }, separators=(",", ":")).encode()
    sig = hmac.new(app_secret, body, hashlib.sha256).hexdigest()
    return (f"POST /api/v1/webhooks/whatsapp HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nX-Hub-Signature-256: sha256={sig}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def main() -> int:
    base, secret, n, conns, tag = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 60.0
    u = urllib.parse.urlsplit(base)
    requests = [build(secret, k, tag, u.netloc) for k in range(n)]
    statuses: Counter = Counter()
    latencies: list = []
    errors: Counter = Counter()
    next_k = [0]
    last_ack = [0.0]

    async def conn() -> None:
        reader = writer = None
        while next_k[0] < n:
            k = next_k[0]
            next_k[0] += 1
            t0 = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(u.hostname, u.port)
                writer.write(requests[k])
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
                lines = head.split(b"\r\n")
                status = int(lines[0].split()[1])
                length, close = 0, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value.strip())
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1
                last_ack[0] = time.time()
                if close:
                    writer.close()
                    reader = writer = None
            except Exception as e:  # an unanswered request is a result, not a crash
                errors[type(e).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    first_sent = time.time()
    t_start = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(conns)))
    elapsed = time.perf_counter() - t_start
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000 if lat else 0.0

    ok = statuses.get(200, 0)
    print(
        f"WEBHOOKS n={n} conns={conns} ok200={ok} non200={sum(statuses.values()) - ok} "
        f"errors={sum(errors.values())} first_sent_epoch={first_sent:.6f} last_ack_epoch={last_ack[0]:.6f} "
        f"duration_s={elapsed:.3f} ack_per_s={ok / elapsed:.0f} p50_ms={pct(50):.2f} p95_ms={pct(95):.2f} "
        f"p99_ms={pct(99):.2f} max_ms={(lat[-1] * 1000 if lat else 0):.2f}",
        flush=True,
    )
    if len(statuses) > 1 or errors:
        print(f"WEBHOOKS statuses: {dict(statuses)} errors: {dict(errors)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
