"""Shared helpers for the Python compatibility scenarios.

The runner (crates/sluice/tests/compat.rs) starts a fresh `sluice serve` and passes:

* SLUICE_URL    -- http://127.0.0.1:PORT
* SLUICE_TOKEN  -- the admin token (auth is on), or empty with --without-auth
* SLUICE_EXPECT -- a file the scenario appends its expected stored rows to (JSON lines);
  after the scenario exits 0 the runner stops the server, opens its data directory and
  checks that each named table holds exactly those rows (count, tags, field types and
  values, times).

A scenario fails by raising (any uncaught exception exits non-zero). A part that cannot run
yet prints `SKIPPED: <reason>` on its own line; the runner repeats such lines.
"""

import json
import os
import sys
import urllib.error
import urllib.request

URL = os.environ["SLUICE_URL"]
TOKEN = os.environ.get("SLUICE_TOKEN", "")


def check(condition, message):
    """Raises AssertionError(message) unless condition holds."""
    if not condition:
        raise AssertionError(message)


def check_eq(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def skipped(reason):
    print(f"SKIPPED: {reason}", flush=True)


def step(text):
    print(f"-- {text}", flush=True)


def float_value(value):
    return ["f", repr(float(value))]


def int_value(value):
    return ["i", str(int(value))]


def uint_value(value):
    return ["u", str(int(value))]


def str_value(value):
    return ["s", value]


def bool_value(value):
    return ["b", bool(value)]


class Row:
    """One expected stored row: time in ns (None: any time), tags, typed fields."""

    __slots__ = ("time", "tags", "fields")

    def __init__(self, time_ns, tags, fields):
        self.time = time_ns
        self.tags = tags
        self.fields = fields

    def to_json(self):
        return [self.time, self.tags, self.fields]


def expect_table(db, table, rows):
    """Records that `table` in `db` must hold exactly `rows` (in any order)."""
    path = os.environ["SLUICE_EXPECT"]
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"db": db, "table": table, "rows": [r.to_json() for r in rows]}))
        out.write("\n")


def http(method, path, body=None, headers=None):
    """A plain HTTP request to the server; returns (status, headers, body text)."""
    request = urllib.request.Request(URL + path, data=body, method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def metric(name):
    """The value of an unlabelled counter or gauge on /metrics (0 when absent)."""
    status, _, text = http("GET", "/metrics", headers={"Authorization": f"Token {TOKEN}"})
    check_eq(status, 200, "GET /metrics status")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def requests_to(endpoint):
    """How many requests /metrics counted for `endpoint` (every status)."""
    status, _, text = http("GET", "/metrics", headers={"Authorization": f"Token {TOKEN}"})
    check_eq(status, 200, "GET /metrics status")
    total = 0.0
    for line in text.splitlines():
        if line.startswith("sluice_http_requests_total{") and f'endpoint="{endpoint}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def endpoint_exists(method, path, body=None, headers=None):
    """False when the server answers 404 `no such endpoint` (the route is not built yet)."""
    status, _, text = http(method, path, body, headers)
    return not (status == 404 and "no such endpoint" in text)


def main(parts):
    """Runs the parts named on the command line (all when none)."""
    names = sys.argv[1:] or list(parts)
    for name in names:
        if name not in parts:
            raise SystemExit(f"unknown part {name!r}; known: {', '.join(parts)}")
        step(name)
        parts[name]()
    print("ok", flush=True)
