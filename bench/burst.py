#!/usr/bin/env python3
"""N simultaneous pre-reserves of the SAME unit and night (standard library only).

    burst.py <base_url> <unit_id> <check_in YYYY-MM-DD> [n=200] [timeout_s=30]

Every thread opens its own connection and waits at a barrier; the clock starts when the
barrier opens and stops when the last answer (or error/timeout) arrives. Prints one line:
BURST n=... answered=... unanswered=... s201=... s409=... s5xx=... other=... all_answered_ms=...
  p50_ms=... max_ms=...
Exactly one 201 is the correct outcome; the rest should be 409 dates_unavailable.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse
from datetime import date, timedelta


def main() -> int:
    base, unit, check_in = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
    u = urllib.parse.urlsplit(base)
    check_out = (date.fromisoformat(check_in) + timedelta(days=2)).isoformat()
    barrier = threading.Barrier(n + 1)
    results: list = [None] * n  # (status or error string, seconds after start)
    start = [0.0]

    def worker(k: int) -> None:
        body = json.dumps({
            "accommodation_id": unit, "check_in": check_in, "check_out": check_out,
            "guests": 2, "channel": "api", "contact_name": "Burst",
            "contact_phone": f"+5491177{k:06d}",
        })
        barrier.wait()
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
            c.request("POST", "/api/v1/reservations/pre-reserve", body,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            results[k] = (r.status, time.perf_counter() - start[0])
            c.close()
        except Exception as e:  # an unanswered request is a result, not a crash
            results[k] = (type(e).__name__, time.perf_counter() - start[0])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    start[0] = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    statuses = [r[0] for r in results]
    answered = [r for r in results if isinstance(r[0], int)]
    times = sorted(r[1] for r in answered)
    print(
        f"BURST n={n} answered={len(answered)} unanswered={n - len(answered)} "
        f"s201={statuses.count(201)} s409={statuses.count(409)} "
        f"s5xx={sum(1 for s in statuses if isinstance(s, int) and s >= 500)} "
        f"other={sum(1 for s in statuses if s not in (201, 409) and not (isinstance(s, int) and s >= 500))} "
        f"all_answered_ms={max(r[1] for r in results) * 1000:.1f} "
        f"p50_ms={(times[len(times) // 2] * 1000 if times else 0):.1f} "
        f"max_ms={(times[-1] * 1000 if times else 0):.1f}",
        flush=True,
    )
    errors = sorted({str(s) for s in statuses if not isinstance(s, int)})
    if errors:
        print(f"BURST errors: {', '.join(errors)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
