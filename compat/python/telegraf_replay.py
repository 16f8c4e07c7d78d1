"""Telegraf's outputs.influxdb (v1) and outputs.influxdb_v2 wire behaviour, replayed.

The requests are shaped as Telegraf's Go code sends them (plugins/outputs/influxdb/http.go
and plugins/outputs/influxdb_v2/http.go): the line protocol its influx serializer writes
(tags sorted, `i` integers, `u` unsigned with influx_uint_support, ns times, `\n` after
every line), `Content-Type: text/plain; charset=utf-8`, `Content-Encoding: gzip` (the
default content_encoding), the body streamed with `Transfer-Encoding: chunked` and no
Content-Length (Go's client cannot know the length of a gzip pipe or a wrapped reader),
`User-Agent: Telegraf/…`, and Go's automatic `Accept-Encoding: gzip`.

Parts:
  v1         CREATE DATABASE via a form POST to /query, then gzip+chunked writes with Basic
             auth (password = token), `rp` and `consistency`, identity encoding too; a wrong
             password is 401
  v2         gzip+chunked writes to /api/v2/write?bucket=…&org=… with `Token <token>`; the
             empty `Token ` of an unset token is 401 with auth on
  auth_off   (server --without-auth) the empty `Token ` header and no credentials are accepted
  split413   (server --max-request-bytes 64KiB) a batch answered 413 is split in halves
             and re-sent, recursively, as outputs.influxdb_v2 does, until every half is accepted
"""

import base64
import gzip
import http.client
import json
from urllib.parse import urlencode, urlparse

from compat_common import (
    TOKEN,
    URL,
    Row,
    check,
    check_eq,
    expect_table,
    float_value,
    int_value,
    main,
    str_value,
    uint_value,
)

USER_AGENT = "Telegraf/1.34.0 Go/1.24.1"
T0 = 1_700_000_000_000_000_000


def metrics(name, count, host_count=4):
    """Telegraf-serialized metrics and the rows they must become."""
    lines, rows = [], []
    for i in range(count):
        host = f"host{i % host_count}"
        t = T0 + i * 10_000_000_000
        lines.append(
            f"{name},cpu=cpu{i % 2},host={host} usage_idle={i / 3!r},usage_user=1.5,"
            f"uptime={i * 7}i,free={i}u,state=\"running {i}\" {t}\n")
        rows.append(Row(t, {"cpu": f"cpu{i % 2}", "host": host}, {
            "usage_idle": float_value(i / 3), "usage_user": float_value(1.5),
            "uptime": int_value(i * 7), "free": uint_value(i),
            "state": str_value(f"running {i}")}))
    return lines, rows


def chunks(data, size=4096):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def send(method, path, headers, body=None, chunked=False):
    """One request on a fresh connection; returns (status, headers, body text)."""
    address = urlparse(URL)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.putheader("Host", address.netloc)
    conn.putheader("User-Agent", USER_AGENT)
    conn.putheader("Accept-Encoding", "gzip")
    for name, value in headers.items():
        conn.putheader(name, value)
    if body is not None and chunked:
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for chunk in chunks(body):
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
    elif body is not None:
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
    else:
        conn.endheaders()
    response = conn.getresponse()
    text = response.read()
    if response.getheader("Content-Encoding") == "gzip":
        text = gzip.decompress(text)
    conn.close()
    return response.status, dict(response.getheaders()), text.decode()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def create_database(db, auth):
    # url.Values{"q": …}.Encode(): spaces as '+', quotes as %22.
    form = urlencode({"q": f'CREATE DATABASE "{db}"'}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if auth:
        headers["Authorization"] = auth
    status, _, text = send("POST", "/query", headers, form)
    check_eq(status, 200, f"CREATE DATABASE status ({text})")
    check_eq(json.loads(text), {"results": [{"statement_id": 0}]}, "CREATE DATABASE answer")


def write_v1(db, lines, auth, encoding="gzip", extra=None):
    params = {"db": db, **(extra or {})}
    body = "".join(lines).encode()
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if auth:
        headers["Authorization"] = auth
    if encoding == "gzip":
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body)
    return send("POST", "/write?" + urlencode(params), headers, body, chunked=True)


def write_v2(bucket, lines, token, org="telegraf-org"):
    # makeWriteURL: the params (org) cloned, bucket set, then Encode() sorts them.
    query = urlencode(sorted({"org": org, "bucket": bucket}.items()))
    headers = {
        "Content-Encoding": "gzip",
        "Content-Type": "text/plain; charset=utf-8",
        "Authorization": "Token " + token,
    }
    return send("POST", "/api/v2/write?" + query, headers,
                gzip.compress("".join(lines).encode()), chunked=True)


def v1():
    auth = basic("telegraf", TOKEN)
    create_database("telegraf", auth)
    create_database("telegraf", auth)  # Telegraf creates again after a restart
    lines, rows = metrics("cpu", 500)
    status, _, text = write_v1("telegraf", lines[:250], auth)
    check_eq((status, text), (204, ""), "gzip chunked v1 write")
    status, _, text = write_v1("telegraf", lines[250:], auth, encoding="identity",
                               extra={"rp": "autogen", "consistency": "any"})
    check_eq((status, text), (204, ""), "identity chunked v1 write with rp and consistency")
    expect_table("telegraf", "cpu", rows)

    status, _, text = write_v1("telegraf", lines[:1], basic("telegraf", "wrong"))
    check_eq(status, 401, f"wrong password ({text})")
    check("error" in json.loads(text), "v1 error shape")
    status, _, _ = write_v1("telegraf", lines[:1], None)
    check_eq(status, 401, "no credentials with auth on")


def v2():
    lines, rows = metrics("mem", 400)
    status, _, text = write_v2("telegraf_v2", lines, TOKEN)
    check_eq((status, text), (204, ""), "gzip chunked v2 write")
    expect_table("telegraf_v2", "mem", rows)

    status, headers, text = write_v2("telegraf_v2", lines[:1], "")
    check_eq(status, 401, f"empty `Token ` header with auth on ({text})")
    check_eq(json.loads(text)["code"], "unauthorized", "v2 error code")


def auth_off():
    create_database("open", None)
    lines, rows = metrics("disk", 100)
    status, _, text = write_v1("open", lines[:50], None)
    check_eq((status, text), (204, ""), "v1 write without credentials, auth off")
    status, _, text = write_v2("open", lines[50:], "")
    check_eq((status, text), (204, ""), "v2 write with the empty `Token ` header, auth off")
    expect_table("open", "disk", rows)


def split413():
    lines, rows = metrics("net", 3_000)
    seen = {"413": 0, "requests": 0}

    def write_batch(batch):
        seen["requests"] += 1
        status, _, text = write_v2("telegraf_split", batch, TOKEN)
        if status == 413:
            seen["413"] += 1
            body = json.loads(text)
            check_eq(body["code"], "request too large", "413 code")
            check(len(batch) > 1, "a single metric is over the limit")
            half = len(batch) // 2
            write_batch(batch[:half])
            write_batch(batch[half:])
            return
        check_eq((status, text), (204, ""), f"write of {len(batch)} metrics")

    size = len("".join(lines).encode())
    check(size > 64 * 1024, f"the batch ({size} bytes) is over the limit")
    write_batch(lines)
    check(seen["413"] >= 1, "the server answered 413 at least once")
    print(f"split413: {seen['requests']} requests, {seen['413']} answered 413, "
          f"{size} bytes of line protocol")
    expect_table("telegraf_split", "net", rows)

    # outputs.influxdb (v1) drops a batch answered 413 (a 4xx); the server's answer is the same.
    status, _, text = write_v1("telegraf_split", lines, basic("telegraf", TOKEN))
    check_eq(status, 413, f"v1 oversize write ({text})")
    check("too large" in json.loads(text)["error"], "v1 413 message")


if __name__ == "__main__":
    main({"v1": v1, "v2": v2, "auth_off": auth_off, "split413": split413})
