#!/usr/bin/env python3
"""Independent reading of a .ics file with Python's `icalendar` library.

Usage: python_check.py FILE.ics
Prints one JSON object: the calendar properties and its events, with dates in
ISO form, so a Rust test can compare them with what it exported.
Exit status 2 when the file cannot be parsed.
"""
import json
import re
import sys

import icalendar


def text(value):
    return None if value is None else str(value)


def x_text(value):
    """X- properties come back verbatim (`vUnknown`); RFC 5545 §3.8.8.2 makes
    their default value type TEXT, so undo the TEXT escaping here."""
    if value is None:
        return None
    raw = value.to_ical().decode() if hasattr(value, "to_ical") else str(value)
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), raw)


def when(prop):
    if prop is None:
        return None
    dt = prop.dt
    return {"type": type(dt).__name__, "value": dt.isoformat()}


def main(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except Exception as e:  # noqa: BLE001 - report any parser failure
        print(f"icalendar could not parse {path}: {e}", file=sys.stderr)
        return 2
    out = {
        "icalendar_version": icalendar.__version__,
        "prodid": text(cal.get("PRODID")),
        "version": text(cal.get("VERSION")),
        "calscale": text(cal.get("CALSCALE")),
        "method": text(cal.get("METHOD")),
        "name": x_text(cal.get("X-WR-CALNAME")),
        "events": [],
    }
    for ev in cal.walk("VEVENT"):
        out["events"].append(
            {
                "uid": text(ev.get("UID")),
                "dtstamp": when(ev.get("DTSTAMP")),
                "dtstart": when(ev.get("DTSTART")),
                "dtend": when(ev.get("DTEND")),
                "summary": text(ev.get("SUMMARY")),
                "x_source": x_text(ev.get("X-SOURCE")),
                "created": when(ev.get("CREATED")),
                "last_modified": when(ev.get("LAST-MODIFIED")),
            }
        )
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1]))
