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

import com.influxdb.v3.client.InfluxDBApiHttpException;
import com.influxdb.v3.client.InfluxDBClient;
import com.influxdb.v3.client.Point;
import com.influxdb.v3.client.PointValues;
import com.influxdb.v3.client.query.QueryOptions;
import com.influxdb.v3.client.write.WriteOptions;
import com.influxdb.v3.client.write.WritePrecision;
import java.math.BigInteger;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** The official Java client for InfluxDB 3, com.influxdb:influxdb3-java, against sluice. */
public final class V3Client {
    static final String DB = "java3db";

    private V3Client() {}

    public static void main(String[] args) {
        Compat.main(args, Map.of("write", V3Client::write, "query", V3Client::query));
    }

    static InfluxDBClient client() {
        return InfluxDBClient.getInstance(URL, TOKEN.toCharArray(), DB);
    }

    static long nsPer(WritePrecision precision) {
        switch (precision) {
            case NS: return 1;
            case US: return 1_000;
            case MS: return 1_000_000;
            default: return 1_000_000_000;
        }
    }

    static void write() throws Exception {
        try (InfluxDBClient client = client()) {
            step("writePoint and writePoints: every field type");
            client.writePoint(Point.measurement("every").setTag("host", "a b").setFloatField("f", 1.5)
                    .setIntegerField("i", -7).setStringField("s", "a \"quoted\" \\ string")
                    .setBooleanField("b", true).setTimestamp(T0, WritePrecision.NS));
            List<Point> points = new ArrayList<>();
            List<List<Object>> manyRows = new ArrayList<>();
            for (int k = 0; k < 2_000; k++) {
                points.add(Point.measurement("many").setTag("k", "k" + (k % 4)).setIntegerField("v", k)
                        .setTimestamp(T0 + k, WritePrecision.NS));
                manyRows.add(row(T0 + k, Map.of("k", "k" + (k % 4)), Map.of("v", i(k))));
            }
            client.writePoints(points);
            expectTable(DB, "every", List.of(row(T0, Map.of("host", "a b"), Map.of("f", f(1.5), "i", i(-7),
                    "s", s("a \"quoted\" \\ string"), "b", b(true)))));
            expectTable(DB, "many", manyRows);

            step("writeRecord with every precision and another database; default tags on a point");
            List<List<Object>> rows = new ArrayList<>();
            int n = 0;
            for (WritePrecision precision : WritePrecision.values()) {
                long unit = nsPer(precision);
                long units = T0 / unit + n;
                client.writeRecord("prec,p=" + precision + " v=" + n + "i " + units,
                        new WriteOptions.Builder().precision(precision).database("java3other").build());
                rows.add(row(units * unit, Map.of("p", precision.toString()), Map.of("v", i(n))));
                n++;
            }
            expectTable("java3other", "prec", rows);
            // Default tags apply to Points (not to records).
            client.writePoint(Point.measurement("tagged").setTag("own", "x").setIntegerField("v", 1)
                    .setTimestamp(T0, WritePrecision.NS), new WriteOptions.Builder()
                    .defaultTags(Map.of("region", "eu")).build());
            expectTable(DB, "tagged", List.of(row(T0, Map.of("own", "x", "region", "eu"), Map.of("v", i(1)))));

            step("gzip above a threshold, no_sync");
            double before = Compat.metric("sluice_http_write_bytes_received_total");
            List<String> lines = new ArrayList<>();
            List<List<Object>> gzRows = new ArrayList<>();
            for (int k = 0; k < 1_000; k++) {
                lines.add("gz,k=k v=" + k + "i " + (T0 + k));
                gzRows.add(row(T0 + k, Map.of("k", "k"), Map.of("v", i(k))));
            }
            client.writeRecords(lines, new WriteOptions.Builder().gzipThreshold(100).noSync(true).build());
            double wire = Compat.metric("sluice_http_write_bytes_received_total") - before;
            check(wire > 0 && wire < String.join("\n", lines).length() / 3.0, "gzip: " + wire + " bytes on the wire");
            expectTable(DB, "gz", gzRows);

            step("a partial write is a 400 naming the line; the good lines are kept");
            try {
                client.writeRecords(List.of("part v=1 1", "part v=", "part v=3 3"));
                throw new AssertionError("a partial write must fail");
            } catch (InfluxDBApiHttpException e) {
                checkEq(e.statusCode(), 400, "status of a partial write");
                check(e.getMessage().contains("part v="), "the line is named: " + e.getMessage());
            }
            expectTable(DB, "part", List.of(row(1L, Map.of(), Map.of("v", f(1))), row(3L, Map.of(), Map.of("v", f(3)))));
        }
        try (InfluxDBClient bad = InfluxDBClient.getInstance(URL, "wrong-token".toCharArray(), DB)) {
            bad.writeRecord("refused v=1 1");
            throw new AssertionError("a wrong token must be refused");
        } catch (InfluxDBApiHttpException e) {
            checkEq(e.statusCode(), 401, "status with a wrong token");
        }
    }

    /** A time column value as ns since the epoch. */
    static long nanos(Object value) {
        if (value instanceof Instant) {
            Instant t = (Instant) value;
            return t.getEpochSecond() * 1_000_000_000L + t.getNano();
        }
        if (value instanceof BigInteger) {
            return ((BigInteger) value).longValueExact();
        }
        if (value instanceof Number) {
            return ((Number) value).longValue();
        }
        throw new AssertionError("not a time: " + value.getClass() + " " + value);
    }

    static void query() throws Exception {
        try (InfluxDBClient client = client()) {
            List<String> lines = new ArrayList<>();
            List<List<Object>> rows = new ArrayList<>();
            for (int k = 0; k < 10; k++) {
                lines.add("q,host=h" + (k % 2) + " v=" + k + ".5,n=" + k + "i,s=\"s" + k + "\" " + (T0 + k));
                rows.add(row(T0 + k, Map.of("host", "h" + (k % 2)), Map.of("v", f(k + 0.5), "n", i(k), "s", s("s" + k))));
            }
            client.writeRecords(lines);
            expectTable(DB, "q", rows);

            step("SQL over Flight: query() rows as Object[]");
            List<String> got;
            try (Stream<Object[]> stream = client.query("SELECT host, v, n, s, time FROM q ORDER BY time")) {
                got = stream.map(r -> r[0] + " " + r[1] + " " + r[2] + " " + r[3] + " " + nanos(r[4]))
                        .collect(Collectors.toList());
            }
            List<String> want = new ArrayList<>();
            for (int k = 0; k < 10; k++) {
                want.add("h" + (k % 2) + " " + (k + 0.5) + " " + k + " s" + k + " " + (T0 + k));
            }
            checkEq(got, want, "SQL rows");

            step("SQL with parameters: queryRows()");
            try (Stream<Map<String, Object>> stream = client.queryRows(
                    "SELECT n FROM q WHERE host = $host AND n > $n ORDER BY n", Map.of("host", "h1", "n", 5))) {
                got = stream.map(r -> String.valueOf(r.get("n"))).collect(Collectors.toList());
            }
            checkEq(got, List.of("7", "9"), "rows with host=h1 and n>5");

            step("InfluxQL over Flight: queryPoints()");
            try (Stream<PointValues> stream = client.queryPoints("SELECT v, n FROM q WHERE host = 'h1'",
                    QueryOptions.INFLUX_QL)) {
                got = stream.map(p -> p.getField("v") + " " + p.getField("n") + " " + nanos(p.getTimestamp()))
                        .collect(Collectors.toList());
            }
            want = new ArrayList<>();
            for (int k : new int[] {1, 3, 5, 7, 9}) {
                want.add((k + 0.5) + " " + k + " " + (T0 + k));
            }
            checkEq(got, want, "InfluxQL rows for host=h1");
        }
    }
}
