#!/usr/bin/env python3
"""Latency of small writes: CONNECTIONS keep-alive connections, each sending WRITES
single-request writes of LINES lines to /write?db=DB one after the other (the next once
the previous is answered, after PAUSE seconds). Prints p50, p90, p99 and max in milliseconds (exact, nearest
rank) and the writes per second. Standard library only.

    bench/write-latency.py --url http://127.0.0.1:8086 --writes 500 --connections 1
"""

import argparse
import http.client
import math
import threading
import time
import urllib.parse


def run(url, db, writes, lines, token, pause, offset, out):
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=60)
    headers = {"Content-Type": "text/plain"}
    if token:
        headers["Authorization"] = f"Token {token}"
    for i in range(writes):
        if i > 0 and pause > 0:
            time.sleep(pause)
        first = (offset + i) * lines
        body = "".join(
            f"lat,conn={offset} v={n}i {n * 1_000_000_000}\n" for n in range(first, first + lines)
        )
        start = time.perf_counter()
        conn.request("POST", f"/write?db={db}", body=body, headers=headers)
        reply = conn.getresponse()
        reply.read()
        took = time.perf_counter() - start
        if reply.status != 204:
            raise SystemExit(f"write answered {reply.status}")
        out.append(took)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8086")
    parser.add_argument("--db", default="latency")
    parser.add_argument("--writes", type=int, default=500, help="writes per connection")
    parser.add_argument("--lines", type=int, default=1, help="lines per write")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--token")
    parser.add_argument("--pause", type=float, default=0, help="seconds between writes")
    args = parser.parse_args()
    latencies = []
    threads = [
        threading.Thread(
            target=run,
            args=(args.url, args.db, args.writes, args.lines, args.token, args.pause,
                  c * args.writes, latencies),
        )
        for c in range(args.connections)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()

    def rank(p):
        return latencies[max(0, math.ceil(p / 100 * len(latencies)) - 1)] * 1000

    print(
        f"writes={len(latencies)} connections={args.connections} lines={args.lines} "
        f"p50={rank(50):.2f}ms p90={rank(90):.2f}ms p99={rank(99):.2f}ms "
        f"max={latencies[-1] * 1000:.2f}ms writes/s={len(latencies) / wall:.0f}"
    )


if __name__ == "__main__":
    main()
