package sluice.compat;

import com.google.gson.Gson;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What every Java scenario shares (see compat/README.md): the server's address and token
 * from SLUICE_URL and SLUICE_TOKEN, checks that fail the scenario, and the expected rows
 * written to SLUICE_EXPECT for the runner to compare with what sluice stored.
 */
final class Compat {
    static final String URL = System.getenv("SLUICE_URL");
    static final String TOKEN = System.getenv("SLUICE_TOKEN");
    static final long T0 = 1_700_000_000_000_000_000L; // 2023-11-14T22:13:20Z in ns

    private Compat() {}

    static void check(boolean ok, String message) {
        if (!ok) {
            throw new AssertionError("check failed: " + message);
        }
    }

    static void checkEq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) {
            throw new AssertionError("check failed: " + what + ": expected " + want + ", got " + got);
        }
    }

    static void step(String text) {
        System.out.println("-- " + text);
    }

    static List<Object> f(double v) {
        return List.of("f", Double.toString(v));
    }

    static List<Object> i(long v) {
        return List.of("i", Long.toString(v));
    }

    static List<Object> s(String v) {
        return List.of("s", v);
    }

    static List<Object> b(boolean v) {
        return List.of("b", v);
    }

    /** One expected row: time in ns (null: any time), tags, typed fields. */
    static List<Object> row(Long timeNs, Map<String, String> tags, Map<String, List<Object>> fields) {
        List<Object> row = new ArrayList<>();
        row.add(timeNs);
        row.add(tags);
        row.add(fields);
        return row;
    }

    /** Records that `table` in `db` must hold exactly `rows` (in any order). */
    static void expectTable(String db, String table, List<List<Object>> rows) {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("db", db);
        entry.put("table", table);
        entry.put("rows", rows);
        String line = new Gson().newBuilder().serializeNulls().create().toJson(entry) + "\n";
        try {
            Files.writeString(Path.of(System.getenv("SLUICE_EXPECT")), line, StandardCharsets.UTF_8,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A plain GET to the server; returns the body, failing unless the status is 200. */
    static String get(String path) {
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create(URL + path))
                    .header("Authorization", "Token " + TOKEN)
                    .timeout(Duration.ofSeconds(60)).build();
            HttpResponse<String> response = HttpClient.newHttpClient()
                    .send(request, HttpResponse.BodyHandlers.ofString());
            checkEq(response.statusCode(), 200, "GET " + path);
            return response.body();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    /** An unlabelled counter or gauge of /metrics (0 when absent). */
    static double metric(String name) {
        for (String line : get("/metrics").split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1).trim());
            }
        }
        return 0;
    }

    /** One part of a scenario program. */
    interface Part {
        void run() throws Exception;
    }

    /** Runs the named parts of a scenario program. */
    static void main(String[] args, Map<String, Part> parts) {
        if (args.length == 0) {
            System.err.println("usage: PART... (known: " + parts.keySet() + ")");
            System.exit(2);
        }
        for (String name : args) {
            Part part = parts.get(name);
            if (part == null) {
                System.err.println("unknown part " + name + "; known: " + parts.keySet());
                System.exit(2);
            }
            step(name);
            try {
                part.run();
            } catch (Throwable t) {
                // Exit here: an uncaught exception would leave the clients' threads running.
                t.printStackTrace();
                System.out.flush();
                System.exit(1);
            }
        }
        System.out.println("ok");
        // Client thread pools (OkHttp, RxJava, Netty) must not keep the JVM alive.
        System.exit(0);
    }
}
