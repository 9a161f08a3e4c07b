#!/usr/bin/env python3
"""Per-message timings of the WhatsApp bench, from the server's own timestamps.

    <rows> | wa_latency.py <first_sent_epoch> <n>

Each input line (tab-separated, epoch seconds, empty = NULL) is one inbound event of the run:
received_at, processed_at (= the reply rows' created_at: same transaction), first reply
created_at, last reply marked sent (updated_at), reply rows, replies still queued.
Prints one line:
LATENCY events=... processed=... replies=... queued=... sent_events=...
  replies_after_s=... msgs_per_s=... proc_p50_ms=... proc_p95_ms=... proc_p99_ms=... proc_max_ms=...
  sent_after_s=... sent_per_s=... sent_p50_ms=... sent_p95_ms=... sent_p99_ms=... sent_max_ms=...
and a second line with how many events were answered (processed_at) in each 250 ms after the
first webhook (shows the job worker's batches and pauses).
"after_s" is from the sender's first webhook to the last event answered (or sent), so
msgs_per_s = n / replies_after_s is the end-to-end rate.
"""
import sys


def main() -> int:
    first, n = float(sys.argv[1]), int(sys.argv[2])
    rows = []
    for line in sys.stdin:
        f = line.rstrip("\n").split("\t")
        if len(f) < 6:
            continue
        val = [float(x) if x not in ("", None) else None for x in f[:4]]
        rows.append((*val, int(f[4] or 0), int(f[5] or 0)))
    proc = sorted((r[1] - r[0]) * 1000 for r in rows if r[1] is not None)
    sent = sorted((r[3] - r[0]) * 1000 for r in rows if r[3] is not None and r[5] == 0)
    last_proc = max((r[1] for r in rows if r[1] is not None), default=None)
    last_sent = max((r[3] for r in rows if r[3] is not None), default=None)

    def pct(xs: list, p: float) -> str:
        return f"{xs[min(len(xs) - 1, int(p / 100 * len(xs)))]:.1f}" if xs else "-"

    def after(t):
        return f"{t - first:.3f}" if t is not None else "-"

    def rate(t):
        return f"{n / (t - first):.0f}" if t is not None and t > first else "-"

    print(
        f"LATENCY events={len(rows)} processed={len(proc)} replies={sum(r[4] for r in rows)} "
        f"queued={sum(r[5] for r in rows)} sent_events={len(sent)} "
        f"replies_after_s={after(last_proc)} msgs_per_s={rate(last_proc)} "
        f"proc_p50_ms={pct(proc, 50)} proc_p95_ms={pct(proc, 95)} proc_p99_ms={pct(proc, 99)} "
        f"proc_max_ms={(f'{proc[-1]:.1f}' if proc else '-')} "
        f"sent_after_s={after(last_sent)} sent_per_s={rate(last_sent)} "
        f"sent_p50_ms={pct(sent, 50)} sent_p95_ms={pct(sent, 95)} sent_p99_ms={pct(sent, 99)} "
        f"sent_max_ms={(f'{sent[-1]:.1f}' if sent else '-')}"
    )
    buckets: dict = {}
    for r in rows:
        if r[1] is not None:
            b = int((r[1] - first) * 4)
            buckets[b] = buckets.get(b, 0) + 1
    print("ANSWERED_PER_250MS " + " ".join(f"{buckets.get(b, 0)}" for b in range(max(buckets, default=-1) + 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
