package sluice.compat;

import static sluice.compat.Compat.T0;
import static sluice.compat.Compat.TOKEN;
import static sluice.compat.Compat.URL;
import static sluice.compat.Compat.b;
import static sluice.compat.Compat.check;
import static sluice.compat.Compat.checkEq;
import static sluice.compat.Compat.expectTable;
import static sluice.compat.Compat.f;
import static sluice.compat.Compat.i;
import static sluice.compat.Compat.row;
import static sluice.compat.Compat.s;
import static sluice.compat.Compat.step;

import com.influxdb.annotations.Column;
import com.influxdb.annotations.Measurement;
import com.influxdb.client.BucketsApi;
import com.influxdb.client.InfluxDBClient;
import com.influxdb.client.InfluxDBClientFactory;
import com.influxdb.client.InfluxDBClientOptions;
import com.influxdb.client.WriteApi;
import com.influxdb.client.WriteApiBlocking;
import com.influxdb.client.WriteOptions;
import com.influxdb.client.domain.Bucket;
import com.influxdb.client.domain.BucketRetentionRules;
import com.influxdb.client.domain.HealthCheck;
import com.influxdb.client.domain.Organization;
import com.influxdb.client.domain.Ready;
import com.influxdb.client.domain.WritePrecision;
import com.influxdb.client.write.Point;
import com.influxdb.client.write.events.WriteErrorEvent;
import com.influxdb.client.write.events.WriteRetriableErrorEvent;
import com.influxdb.client.write.events.WriteSuccessEvent;
import com.influxdb.exceptions.BadRequestException;
import com.influxdb.exceptions.InfluxException;
import com.influxdb.exceptions.UnauthorizedException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/** The official Java v2 client, com.influxdb:influxdb-client-java, against sluice. */
public final class V2Client {
    static final String ORG = "compat-org";

    private V2Client() {}

    public static void main(String[] args) {
        Compat.main(args, Map.of(
                "course", V2Client::course,
                "sync", V2Client::sync,
                "batching", V2Client::batching,
                "backpressure", V2Client::backpressure,
                "status", V2Client::status));
    }

    static InfluxDBClient client() {
        return InfluxDBClientFactory.create(InfluxDBClientOptions.builder().url(URL)
                .authenticateToken(TOKEN.toCharArray()).org(ORG).bucket("javadefault")
                .okHttpClient(new okhttp3.OkHttpClient.Builder()
                        .readTimeout(java.time.Duration.ofSeconds(60))
                        .writeTimeout(java.time.Duration.ofSeconds(60)))
                .build());
    }

    /** The course's snippet, as written apart from URL, token, org and bucket. */
    static void course() {
        InfluxDBClient client = InfluxDBClientFactory.create(URL,
                TOKEN.toCharArray(), "myorg", "mybucket");
        WriteApiBlocking writeApi = client.getWriteApiBlocking();
        Point point = Point.measurement("temperature").addTag("location", "room1")
                .addField("value", 22.5).time(System.currentTimeMillis(), WritePrecision.MS);
        writeApi.writePoint(point);
        client.close();
        // The point's time in ms, as the client sent it.
        long ms = Long.parseLong(point.toLineProtocol().replaceAll(".* ", ""));
        expectTable("mybucket", "temperature", List.of(
                row(ms * 1_000_000, Map.of("location", "room1"), Map.of("value", f(22.5)))));
    }

    /** A POJO the client maps with its annotations. */
    @Measurement(name = "pojo")
    public static final class Temperature {
        @Column(tag = true)
        public String location;
        @Column
        public Double value;
        @Column(name = "reading_count")
        public Long count;
        @Column
        public Boolean ok;
        @Column
        public String note;
        @Column(timestamp = true)
        public Instant time;

        Temperature(String location, double value, long count, boolean ok, String note, Instant time) {
            this.location = location;
            this.value = value;
            this.count = count;
            this.ok = ok;
            this.note = note;
            this.time = time;
        }
    }

    static long nsPer(WritePrecision precision) {
        switch (precision) {
            case NS: return 1;
            case US: return 1_000;
            case MS: return 1_000_000;
            default: return 1_000_000_000;
        }
    }

    static void sync() {
        String bucket = "javasync";
        try (InfluxDBClient client = client()) {
            WriteApiBlocking write = client.getWriteApiBlocking();

            step("every field type and escapes");
            String text = "say \"hi\" \\ back\\slash, unicode é✓";
            write.writePoint(bucket, ORG, Point.measurement("every type").addTag("tag,key", "val ue=1")
                    .addField("f", 2.25).addField("i", -42L).addField("s", text).addField("t", true)
                    .addField("field key=", 1e300).time(T0, WritePrecision.NS));
            expectTable(bucket, "every type", List.of(row(T0, Map.of("tag,key", "val ue=1"),
                    Map.of("f", f(2.25), "i", i(-42), "s", s(text), "t", b(true), "field key=", f(1e300)))));

            step("every precision: Point.time, writeRecord, writeMeasurement (POJO)");
            Instant moment = Instant.parse("2024-02-29T12:34:56.789123456Z");
            long momentNs = moment.getEpochSecond() * 1_000_000_000L + moment.getNano();
            List<List<Object>> rows = new ArrayList<>();
            List<List<Object>> pojoRows = new ArrayList<>();
            int n = 0;
            for (WritePrecision precision : WritePrecision.values()) {
                long unit = nsPer(precision);
                long units = T0 / unit + n;
                String p = precision.getValue();
                write.writePoint(bucket, ORG, Point.measurement("prec").addTag("p", p).addTag("how", "point")
                        .addField("v", n).time(units, precision));
                rows.add(row(units * unit, Map.of("p", p, "how", "point"), Map.of("v", i(n))));
                write.writeRecord(bucket, ORG, precision, "prec,p=" + p + ",how=record v=" + n + "i " + (units + 1));
                rows.add(row((units + 1) * unit, Map.of("p", p, "how", "record"), Map.of("v", i(n))));
                write.writePoint(bucket, ORG, Point.measurement("prec").addTag("p", p).addTag("how", "instant")
                        .addField("v", n).time(moment, precision));
                rows.add(row(momentNs / unit * unit, Map.of("p", p, "how", "instant"), Map.of("v", i(n))));
                write.writeMeasurement(bucket, ORG, precision,
                        new Temperature("room" + n, n + 0.5, n, n % 2 == 0, p, moment));
                pojoRows.add(row(momentNs / unit * unit, Map.of("location", "room" + n),
                        Map.of("value", f(n + 0.5), "reading_count", i(n), "ok", b(n % 2 == 0), "note", s(p))));
                n++;
            }
            expectTable(bucket, "prec", rows);

            step("writeMeasurements: a list of POJOs");
            List<Temperature> many = new ArrayList<>();
            for (int k = 0; k < 1_000; k++) {
                Temperature t = new Temperature("room" + (k % 7), k / 4.0, k, true, "many",
                        Instant.ofEpochSecond(1_700_000_000L + k));
                many.add(t);
                pojoRows.add(row((1_700_000_000L + k) * 1_000_000_000L, Map.of("location", "room" + (k % 7)),
                        Map.of("value", f(k / 4.0), "reading_count", i(k), "ok", b(true), "note", s("many"))));
            }
            write.writeMeasurements(bucket, ORG, WritePrecision.S, many);
            expectTable(bucket, "pojo", pojoRows);

            step("a partial write: BadRequestException 400, good lines kept");
            try {
                write.writeRecords(bucket, ORG, WritePrecision.NS,
                        List.of("bad,host=a v=1 10", "bad,host=a", "bad,host=a v=3 30"));
                throw new AssertionError("a request with a bad line must fail");
            } catch (BadRequestException e) {
                checkEq(e.status(), 400, "status of a partial write");
                check(e.getMessage().contains("partial write") && e.getMessage().contains("missing fields"),
                        "message names the error: " + e.getMessage());
                checkEq(e.errorBody().get("code"), "invalid", "code of a partial write");
            }
            expectTable(bucket, "bad", List.of(row(10L, Map.of("host", "a"), Map.of("v", f(1))),
                    row(30L, Map.of("host", "a"), Map.of("v", f(3)))));

            step("a field type conflict");
            try {
                write.writeRecord(bucket, ORG, WritePrecision.NS, "prec,p=ns,how=point v=\"text\" 1");
                throw new AssertionError("a field type conflict must fail");
            } catch (BadRequestException e) {
                check(e.getMessage().contains("conflict"), "conflict message: " + e.getMessage());
            }
        }
    }

    /** The batching WriteApi's events, counted. */
    static final class Events {
        final AtomicLong successLines = new AtomicLong();
        final List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        final List<Throwable> retriable = Collections.synchronizedList(new ArrayList<>());

        Events(WriteApi api) {
            api.listenEvents(WriteSuccessEvent.class,
                    e -> successLines.addAndGet(e.getLineProtocol().split("\n").length));
            api.listenEvents(WriteErrorEvent.class, e -> errors.add(e.getThrowable()));
            api.listenEvents(WriteRetriableErrorEvent.class, e -> retriable.add(e.getThrowable()));
        }
    }

    /**
     * Flushes and waits (up to 10 minutes) until WriteSuccessEvents count `lines` lines or a
     * WriteErrorEvent arrives. close() alone is not enough on a slow machine: it waits at
     * most 30 s for the batches in flight, then interrupts them (the same against InfluxDB).
     */
    static void awaitLines(WriteApi api, Events events, long lines) throws InterruptedException {
        api.flush();
        long deadline = System.nanoTime() + 600_000_000_000L;
        while (events.successLines.get() < lines && events.errors.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
    }

    static List<List<Object>> writeBatched(WriteApi api, String bucket, String measurement, int count) {
        List<List<Object>> rows = new ArrayList<>();
        List<Point> points = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            long t = T0 + k * 1_000_000L;
            String series = "s" + (k % 20);
            points.add(Point.measurement(measurement).addTag("series", series).addField("value", k)
                    .addField("half", k / 2.0).time(t, WritePrecision.NS));
            rows.add(row(t, Map.of("series", series), Map.of("value", i(k), "half", f(k / 2.0))));
            if (points.size() == 1_000) {
                api.writePoints(bucket, ORG, points);
                points = new ArrayList<>();
            }
        }
        api.writePoints(bucket, ORG, points);
        return rows;
    }

    static void batching() throws InterruptedException {
        String bucket = "javabatch";
        try (InfluxDBClient client = client()) {
            // The flush interval is longer than the writing takes: when the interval's timer
            // sends a batch, the next full batch cancels that timer and interrupts the thread
            // still sending it (WriteErrorEvent "interrupted"; influxdb-client-java issues
            // #642 and #793): the same against InfluxDB, on a machine as loaded as ours.
            step("WriteOptions(batchSize 5000, flushInterval 60000): 100,000 points, flush(), close()");
            WriteApi api = client.makeWriteApi(WriteOptions.builder().batchSize(5_000).flushInterval(60_000)
                    .maxRetries(3).retryInterval(1_000).jitterInterval(0).build());
            Events events = new Events(api);
            List<List<Object>> rows = writeBatched(api, bucket, "batched", 100_000);
            awaitLines(api, events, 100_000);
            api.close();
            checkEq(events.errors, List.of(), "WriteErrorEvents");
            checkEq(events.retriable, List.of(), "WriteRetriableErrorEvents");
            checkEq(events.successLines.get(), 100_000L, "lines reported by WriteSuccessEvent");
            expectTable(bucket, "batched", rows);

            step("a batch with a rejected line: WriteErrorEvent with BadRequestException, good lines kept");
            api = client.makeWriteApi(WriteOptions.builder().batchSize(10).flushInterval(1_000).build());
            events = new Events(api);
            api.writeRecords(bucket, ORG, WritePrecision.S, List.of("asyncbad,host=a v=1 10", "asyncbad,host=a",
                    "asyncbad,host=a v=3 30"));
            api.flush();
            api.close();
            checkEq(events.errors.size(), 1, "WriteErrorEvents for a rejected line");
            Throwable error = events.errors.get(0);
            check(error instanceof BadRequestException, "a BadRequestException: " + error);
            checkEq(((InfluxException) error).status(), 400, "status in the WriteErrorEvent");
            check(error.getMessage().contains("missing fields"), "the reason: " + error.getMessage());
            checkEq(events.retriable, List.of(), "a 400 is not retried");
            expectTable(bucket, "asyncbad", List.of(row(10_000_000_000L, Map.of("host", "a"), Map.of("v", f(1))),
                    row(30_000_000_000L, Map.of("host", "a"), Map.of("v", f(3)))));
        }
    }

    static void backpressure() throws InterruptedException {
        String bucket = "javapressure";
        double before = Compat.metric("sluice_backpressure_events_total");
        try (InfluxDBClient client = client()) {
            WriteApi api = client.makeWriteApi(WriteOptions.builder().batchSize(5_000).flushInterval(60_000)
                    .retryInterval(1_000).maxRetries(50).maxRetryDelay(5_000).maxRetryTime(300_000)
                    .jitterInterval(0).bufferLimit(200_000).build());
            Events events = new Events(api);
            // One batch at a time: a batch queued behind a retried one is sent on the retry
            // timer's thread, which the client interrupts when it disposes of that timer
            // (WriteErrorEvent "interrupted", the batch lost; influxdb-client-java issues
            // #145 and #642, the same against InfluxDB). So the application waits for each
            // batch's WriteSuccessEvent before it writes the next.
            List<List<Object>> rows = new ArrayList<>();
            for (int start = 0; start < 100_000; start += 5_000) {
                List<Point> points = new ArrayList<>();
                for (int k = start; k < start + 5_000; k++) {
                    long t = T0 + k * 1_000_000L;
                    String series = "s" + (k % 20);
                    points.add(Point.measurement("pressured").addTag("series", series).addField("value", k)
                            .addField("half", k / 2.0).time(t, WritePrecision.NS));
                    rows.add(row(t, Map.of("series", series), Map.of("value", i(k), "half", f(k / 2.0))));
                }
                api.writePoints(bucket, ORG, points);
                awaitLines(api, events, start + 5_000);
                Thread.sleep(200);
            }
            api.close();
            checkEq(events.errors.stream().map(Throwable::toString).collect(Collectors.toList()), List.of(),
                    "WriteErrorEvents");
            checkEq(events.successLines.get(), 100_000L, "lines reported by WriteSuccessEvent");
            double refused = Compat.metric("sluice_backpressure_events_total") - before;
            check(refused > 0, "the server refused some writes with 503 (the scenario must exercise retries)");
            check(!events.retriable.isEmpty(), "WriteRetriableErrorEvents for the 503s");
            for (Throwable t : events.retriable) {
                check(t instanceof InfluxException && ((InfluxException) t).status() == 503
                        && t.getMessage().contains("write buffer full"), "a 503 'write buffer full': " + t);
            }
            System.out.printf("backpressure: %.0f writes refused with 503, %d retriable events%n", refused,
                    events.retriable.size());
            expectTable(bucket, "pressured", rows);
        }
    }

    static void status() {
        try (InfluxDBClient client = client()) {
            check(client.ping(), "ping()");
            HealthCheck health = client.health();
            checkEq(health.getStatus(), HealthCheck.StatusEnum.PASS, "health().status");
            checkEq(health.getName(), "sluice", "health().name");
            Ready ready = client.ready();
            checkEq(ready.getStatus(), Ready.StatusEnum.READY, "ready().status");
            check(client.version() != null && !client.version().isEmpty(), "version()");

            List<Organization> orgs = client.getOrganizationsApi().findOrganizations();
            checkEq(orgs.size(), 1, "findOrganizations()");
            Organization org = orgs.get(0);

            BucketsApi buckets = client.getBucketsApi();
            BucketRetentionRules rules = new BucketRetentionRules();
            rules.setEverySeconds(3600);
            Bucket created = buckets.createBucket("javabucket", rules, org);
            checkEq(created.getName(), "javabucket", "createBucket().name");
            checkEq(created.getRetentionRules().get(0).getEverySeconds(), 3600, "createBucket() retention");
            checkEq(buckets.findBucketByName("javabucket").getId(), created.getId(), "findBucketByName().id");
            checkEq(buckets.findBucketByID(created.getId()).getName(), "javabucket", "findBucketByID().name");
            check(buckets.findBucketByName("no_such_bucket") == null, "an unknown bucket is null");
            check(buckets.findBuckets().stream().anyMatch(x -> x.getName().equals("javabucket")),
                    "findBuckets() lists it");
            try {
                buckets.createBucket("javabucket", org);
                throw new AssertionError("creating an existing bucket must fail");
            } catch (InfluxException e) {
                checkEq(e.status(), 422, "createBucket() of an existing bucket");
            }
            buckets.deleteBucket(created);
            check(buckets.findBucketByName("javabucket") == null, "the deleted bucket is gone");

            buckets.createBucket("javakept", org);
            client.getWriteApiBlocking().writeRecord("javakept", ORG, WritePrecision.NS, "kept,host=a v=2i 5");
            expectTable("javakept", "kept", List.of(row(5L, Map.of("host", "a"), Map.of("v", i(2)))));
        }
        try (InfluxDBClient bad = InfluxDBClientFactory.create(URL, "wrong-token".toCharArray(), ORG, "javakept")) {
            bad.getWriteApiBlocking().writeRecord(WritePrecision.NS, "kept v=3i 6");
            throw new AssertionError("a wrong token must be refused");
        } catch (UnauthorizedException e) {
            checkEq(e.status(), 401, "write with a wrong token");
        }
    }
}
