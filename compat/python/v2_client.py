"""The official Python v2 client (`influxdb-client`) against sluice.

Parts (each runs against a fresh server; see compat_common.py for the protocol):
  status      ping(), health(), ready(), version(), orgs, bucket create/find/list/delete
  sync        SYNCHRONOUS writes: one point, a list of 10,000, every field type, escapes,
              every WritePrecision (Point.time, line strings, dicts), a rejected line
  batching    WriteOptions(batch_size=5000, flush_interval=...) with 100,000 points, close()
  backpressure  the same while the server answers 503 + Retry-After (tiny buffer, slow
              persistence): the client's own retry delivers every point
  delete      delete_api().delete() by time range and predicate; a bad predicate is a 400
"""

import datetime
import time

from compat_common import (
    TOKEN,
    URL,
    Row,
    bool_value,
    check,
    check_eq,
    expect_table,
    float_value,
    int_value,
    main,
    metric,
    str_value,
    uint_value,
)
from influxdb_client import BucketRetentionRules, InfluxDBClient, Point, WriteOptions, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

ORG = "compat-org"
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns


def client(**kwargs):
    return InfluxDBClient(url=URL, token=TOKEN, org=ORG, timeout=60_000, **kwargs)


def status():
    with client() as c:
        check(c.ping(), "ping() is True")
        health = c.health()
        check_eq(health.status, "pass", "health().status")
        check_eq(health.name, "sluice", "health().name")
        ready = c.ready()
        check_eq(ready.status, "ready", "ready().status")
        check(c.version(), "version() is the X-Influxdb-Version header, not empty")
        orgs = c.organizations_api().find_organizations(org=ORG)
        check_eq([o.name for o in orgs], [ORG], "find_organizations(org=...)")

        buckets = c.buckets_api()
        created = buckets.create_bucket(
            bucket_name="compat_bucket",
            retention_rules=BucketRetentionRules(type="expire", every_seconds=3600),
            org=ORG,
        )
        check_eq(created.name, "compat_bucket", "create_bucket().name")
        check(created.id, "create_bucket() returns an id")
        check_eq(
            [r.every_seconds for r in created.retention_rules], [3600], "create_bucket() retention"
        )
        found = buckets.find_bucket_by_name("compat_bucket")
        check(found is not None, "find_bucket_by_name finds the new bucket")
        check_eq(found.id, created.id, "find_bucket_by_name().id")
        check_eq(buckets.find_bucket_by_id(created.id).name, "compat_bucket", "find_bucket_by_id")
        check(buckets.find_bucket_by_name("no_such_bucket") is None, "unknown bucket is None")
        names = [b.name for b in buckets.find_buckets().buckets]
        check("compat_bucket" in names, f"find_buckets() lists the bucket: {names}")

        try:
            buckets.create_bucket(bucket_name="compat_bucket", org=ORG)
            raise AssertionError("creating an existing bucket must fail")
        except ApiException as err:
            check_eq(err.status, 422, "create_bucket() of an existing bucket")

        # A write to the created bucket, then delete it: its data goes with it.
        # (Its retention is an hour, so the point has a current time.)
        now = time.time_ns()
        c.write_api(write_options=SYNCHRONOUS).write("compat_bucket", record=f"gone v=1 {now}")
        buckets.delete_bucket(created)
        check(buckets.find_bucket_by_name("compat_bucket") is None, "deleted bucket is gone")

        # A bucket that stays, for the runner to check.
        buckets.create_bucket(bucket_name="kept", org=ORG)
        c.write_api(write_options=SYNCHRONOUS).write("kept", record="kept,host=a v=2i 5")
        expect_table("kept", "kept", [Row(5, {"host": "a"}, {"v": int_value(2)})])

    # A wrong token is refused with 401, which the client raises.
    with InfluxDBClient(url=URL, token="wrong-token", org=ORG) as bad:
        try:
            bad.write_api(write_options=SYNCHRONOUS).write("kept", record="kept v=3i 6")
            raise AssertionError("a wrong token must be refused")
        except ApiException as err:
            check_eq(err.status, 401, "write with a wrong token")


def sync():
    bucket = "v2sync"
    with client() as c:
        write = c.write_api(write_options=SYNCHRONOUS)

        # One point.
        write.write(bucket, record=Point("single").tag("host", "a").field("v", 1.5).time(T0))
        expect_table(bucket, "single", [Row(T0, {"host": "a"}, {"v": float_value(1.5)})])

        # A list of 10,000 points in one call.
        points, rows = [], []
        for i in range(10_000):
            t = T0 + i * 1_000
            host = f"h{i % 10}"
            points.append(
                Point("many").tag("host", host).field("n", i).field("x", i / 8).time(t)
            )
            rows.append(Row(t, {"host": host}, {"n": int_value(i), "x": float_value(i / 8)}))
        write.write(bucket, record=points)
        expect_table(bucket, "many", rows)

        # Every field type, and names that need escaping.
        text = 'say "hi" \\ back\\slash, tab\there, unicode é✓'
        every = Point.from_dict(
            {
                "measurement": "every type",
                "tags": {"tag,key": "val ue=1", "plain": "x"},
                "fields": {
                    "f": 2.25,
                    "i": -42,
                    "u": 18_446_744_073_709_551_615,
                    "s": text,
                    "t": True,
                    "b": False,
                    "big": 9_223_372_036_854_775_807,
                    "field key=": 1e300,
                },
                "time": T0,
            },
            field_types={"u": "uint"},
        )
        write.write(bucket, record=every)
        expect_table(
            bucket,
            "every type",
            [
                Row(
                    T0,
                    {"tag,key": "val ue=1", "plain": "x"},
                    {
                        "f": float_value(2.25),
                        "i": int_value(-42),
                        "u": uint_value(18_446_744_073_709_551_615),
                        "s": str_value(text),
                        "t": bool_value(True),
                        "b": bool_value(False),
                        "big": int_value(9_223_372_036_854_775_807),
                        "field key=": float_value(1e300),
                    },
                )
            ],
        )

        # Every WritePrecision, three ways each: Point.time(int, precision), a line string
        # with write_precision=, and a datetime (the client converts it to the unit).
        factor = {WritePrecision.NS: 1, WritePrecision.US: 1_000, WritePrecision.MS: 1_000_000,
                  WritePrecision.S: 1_000_000_000}
        moment = datetime.datetime(2024, 2, 29, 12, 34, 56, 789_123, tzinfo=datetime.timezone.utc)
        moment_ns = int(moment.timestamp()) * 1_000_000_000 + 789_123_000
        rows = []
        for n, (precision, ns_per_unit) in enumerate(factor.items()):
            units = 1_700_000_000 * (1_000_000_000 // ns_per_unit) + n
            write.write(
                bucket,
                record=Point("prec").tag("p", precision).tag("how", "point").field("v", n)
                .time(units, write_precision=precision),
            )
            rows.append(Row(units * ns_per_unit, {"p": precision, "how": "point"},
                            {"v": int_value(n)}))
            write.write(bucket, record=f"prec,p={precision},how=line v={n}i {units + 1}",
                        write_precision=precision)
            rows.append(Row((units + 1) * ns_per_unit, {"p": precision, "how": "line"},
                            {"v": int_value(n)}))
            write.write(bucket, record=Point("prec").tag("p", precision).tag("how", "datetime")
                        .field("v", n).time(moment, write_precision=precision))
            rows.append(Row(moment_ns // ns_per_unit * ns_per_unit,
                            {"p": precision, "how": "datetime"}, {"v": int_value(n)}))
            write.write(bucket, record={"measurement": "prec",
                                        "tags": {"p": precision, "how": "dict"},
                                        "fields": {"v": n}, "time": units + 2},
                        write_precision=precision)
            rows.append(Row((units + 2) * ns_per_unit, {"p": precision, "how": "dict"},
                            {"v": int_value(n)}))
        expect_table(bucket, "prec", rows)

        # A point without a time gets the server's clock.
        before = datetime.datetime.now(datetime.timezone.utc)
        write.write(bucket, record=Point("notime").field("v", True))
        expect_table(bucket, "notime", [Row(None, {}, {"v": bool_value(True)})])
        check(before.year >= 2024, "sanity")

        # A bad line: the client raises ApiException 400 with the server's message, and the
        # good lines of the same request are written (partial write, as InfluxDB does).
        try:
            write.write(bucket, record=["bad,host=a v=1 10", "bad,host=a", "bad,host=a v=3 30"])
            raise AssertionError("a request with a bad line must fail")
        except ApiException as err:
            check_eq(err.status, 400, "status of a partial write")
            check("partial write" in err.body and "missing fields" in err.body,
                  f"partial-write message names the error: {err.body}")
            check_eq(err.headers.get("X-Platform-Error-Code"), "invalid",
                     "X-Platform-Error-Code of a partial write")
        expect_table(bucket, "bad", [Row(10, {"host": "a"}, {"v": float_value(1)}),
                                     Row(30, {"host": "a"}, {"v": float_value(3)})])

        # A field type conflict is a 400 too.
        try:
            write.write(bucket, record='single,host=a v="text" 99')
            raise AssertionError("a field type conflict must fail")
        except ApiException as err:
            check_eq(err.status, 400, "status of a field type conflict")
            check("conflict" in err.body, f"conflict message: {err.body}")


def batch_points(prefix, count):
    """100,000-ish points over 20 series, with the rows the server must end up holding."""
    points, rows = [], []
    for i in range(count):
        t = T0 + i * 1_000_000
        series = f"s{i % 20}"
        points.append(f"{prefix},series={series} value={i}i,half={i / 2} {t}")
        rows.append(Row(t, {"series": series}, {"value": int_value(i), "half": float_value(i / 2)}))
    return points, rows


class Callbacks:
    def __init__(self):
        self.success_lines = 0
        self.errors = []
        self.retries = []

    def success(self, conf, data):
        self.success_lines += data.count(b"\n") + 1 if isinstance(data, bytes) else data.count("\n") + 1

    def error(self, conf, data, exception):
        self.errors.append(repr(exception))

    def retry(self, conf, data, exception):
        status = getattr(getattr(exception, "response", None), "status", None)
        self.retries.append((status, str(exception)))


def batched_write(bucket, measurement, count, options):
    points, rows = batch_points(measurement, count)
    calls = Callbacks()
    with client() as c:
        write = c.write_api(write_options=options, success_callback=calls.success,
                            error_callback=calls.error, retry_callback=calls.retry)
        # Written in chunks of 1,000 records, as an application feeding the client would.
        for start in range(0, count, 1_000):
            write.write(bucket, record=points[start:start + 1_000])
        write.close()
    check_eq(calls.errors, [], "error_callback calls")
    check_eq(calls.success_lines, count, "lines reported by success_callback")
    expect_table(bucket, measurement, rows)
    return calls


def batching():
    batched_write("v2batch", "batched", 100_000,
                  WriteOptions(batch_size=5_000, flush_interval=1_000))


def backpressure():
    before = metric("sluice_backpressure_events_total")
    calls = batched_write(
        "v2pressure", "pressured", 100_000,
        WriteOptions(batch_size=5_000, flush_interval=1_000, retry_interval=1_000,
                     max_retries=30, max_retry_delay=5_000, max_retry_time=240_000),
    )
    refused = metric("sluice_backpressure_events_total") - before
    check(refused > 0, "the server refused some writes with 503 (the scenario must exercise retries)")
    check(calls.retries, "the client retried after 503 + Retry-After")
    check(all(status == 503 and "write buffer full" in text for status, text in calls.retries),
          f"every retry was for a 503 'write buffer full': {calls.retries[:3]}")
    print(f"backpressure: {int(refused)} writes refused with 503, {len(calls.retries)} client retries")


def bucket_id():
    """The v2 write API takes a bucket name or ID in `bucket` (the client docs say so, and
    the bucket's own links.write uses the ID): a write by ID lands in the named bucket."""
    with client() as c:
        created = c.buckets_api().create_bucket(bucket_name="by_id", org=ORG)
        c.write_api(write_options=SYNCHRONOUS).write(created.id, record="byid,k=v n=1i 1")
        names = sorted(b.name for b in c.buckets_api().find_buckets().buckets)
        check_eq(names, ["by_id"], "buckets after a write by bucket ID")
    expect_table("by_id", "byid", [Row(1, {"k": "v"}, {"n": int_value(1)})])


def delete():
    """The client's DeleteApi: points in [start, stop] whose series match the predicate go,
    the rest stay; a predicate the server cannot run is an ApiException with its reason."""
    bucket = "v2delete"
    with client() as c:
        c.buckets_api().create_bucket(bucket_name=bucket, org=ORG)
        c.write_api(write_options=SYNCHRONOUS).write(
            bucket,
            record=[f"dl,host={h} v={i}i {i}" for h in ("a", "b") for i in range(1, 6)],
            write_precision=WritePrecision.S,
        )
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        deletes = c.delete_api()
        deletes.delete(epoch + datetime.timedelta(seconds=2), epoch + datetime.timedelta(seconds=4),
                       '_measurement="dl" AND host="a"', bucket=bucket, org=ORG)
        try:
            deletes.delete(epoch, epoch + datetime.timedelta(seconds=9), 'v="1"',
                           bucket=bucket, org=ORG)
            raise AssertionError("a predicate on a field was accepted")
        except ApiException as e:
            check_eq(e.status, 400, "status of a delete by a field")
            check("fields not supported" in e.body, f"the reason is in the body: {e.body}")
    second = 1_000_000_000
    rows = [Row(i * second, {"host": "a"}, {"v": int_value(i)}) for i in (1, 5)]
    rows += [Row(i * second, {"host": "b"}, {"v": int_value(i)}) for i in range(1, 6)]
    expect_table(bucket, "dl", rows)


if __name__ == "__main__":
    main({"status": status, "sync": sync, "batching": batching, "backpressure": backpressure,
          "bucket_id": bucket_id, "delete": delete})
