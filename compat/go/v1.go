package main

// The official Go client for InfluxDB 1.x, github.com/influxdata/influxdb1-client/v2.

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	client "github.com/influxdata/influxdb1-client/v2"
)

var v1Parts = map[string]func(){
	"write": v1Write,
	"query": v1Query,
}

const v1DB = "go1db"

// v1Client authenticates as InfluxDB 1.x does: any user name, the token as the password.
func v1Client(encoding client.ContentEncoding) client.Client {
	c, err := client.NewHTTPClient(client.HTTPConfig{
		Addr: serverURL, Username: "compat", Password: token,
		Timeout: 60 * time.Second, WriteEncoding: encoding,
	})
	must(err, "NewHTTPClient")
	return c
}

// t0ms is t0 in whole milliseconds.
var t0ms = time.Unix(0, t0).Truncate(time.Millisecond)

func v1Write() {
	c := v1Client(client.DefaultEncoding)
	defer c.Close()
	rtt, version, err := c.Ping(10 * time.Second)
	must(err, "Ping")
	check(version != "", "Ping reports X-Influxdb-Version (rtt %v)", rtt)

	step("a batch of points with precision ms")
	resp, err := c.Query(client.Query{Command: "CREATE DATABASE " + v1DB})
	must(err, "CREATE DATABASE")
	must(resp.Error(), "CREATE DATABASE result")
	bp, err := client.NewBatchPoints(client.BatchPointsConfig{Database: v1DB, Precision: "ms"})
	must(err, "NewBatchPoints")
	var rows []row
	for i := 0; i < 1000; i++ {
		// Sub-millisecond parts are cut by the ms precision.
		t := t0ms.Add(time.Duration(i)*time.Millisecond + 123*time.Microsecond)
		tags := map[string]string{"host": fmt.Sprintf("h%d", i%4), "region": "eu west"}
		p, err := client.NewPoint("cpu", tags, map[string]interface{}{
			"usage": float64(i) / 10, "count": i, "big": uint64(1) << 63, "label": fmt.Sprintf("l%d", i), "up": i%2 == 0,
		}, t)
		must(err, "NewPoint")
		bp.AddPoint(p)
		rows = append(rows, at(t.Truncate(time.Millisecond).UnixNano(), tags, map[string]field{
			"usage": fFloat(float64(i) / 10), "count": fInt(int64(i)), "big": fUint(1 << 63),
			"label": fStr(fmt.Sprintf("l%d", i)), "up": fBool(i%2 == 0),
		}))
	}
	must(c.Write(bp), "Write batch")
	expectTable(v1DB, "cpu", rows)

	// Not microseconds: BatchPoints accepts "us" (not "u"), but the client then scales the
	// times by "u" only, so it sends nanoseconds labelled precision=us. InfluxDB 1.x reads
	// an unknown "us" as ns and stores them; sluice reads "us" as microseconds (as InfluxDB
	// 2 and 3 do) and refuses the overflowing times with 400 (see the README).
	step("every precision the client scales (ns ms s m h), a retention policy")
	var precRows []row
	for n, pr := range []struct {
		name string
		unit time.Duration
	}{{"ns", time.Nanosecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		bp, _ := client.NewBatchPoints(client.BatchPointsConfig{Database: v1DB, Precision: pr.name, RetentionPolicy: "autogen"})
		t := time.Unix(0, t0+int64(n)*int64(time.Hour)+123456789)
		p, _ := client.NewPoint("prec", map[string]string{"p": pr.name}, map[string]interface{}{"v": n}, t)
		bp.AddPoint(p)
		must(c.Write(bp), "Write precision "+pr.name)
		precRows = append(precRows, at(t.Truncate(pr.unit).UnixNano(), map[string]string{"p": pr.name}, map[string]field{"v": fInt(int64(n))}))
	}
	expectTable(v1DB, "prec", precRows)

	step("a type conflict is refused with the server's message")
	bp, _ = client.NewBatchPoints(client.BatchPointsConfig{Database: v1DB})
	p, _ := client.NewPoint("cpu", map[string]string{"host": "x"}, map[string]interface{}{"count": "text"}, time.Unix(0, 1))
	bp.AddPoint(p)
	err = c.Write(bp)
	check(err != nil && strings.Contains(err.Error(), "field type conflict"), "type conflict: %v", err)

	step("gzip writes")
	gz := v1Client(client.GzipEncoding)
	before := metric("sluice_http_write_bytes_received_total")
	bp, _ = client.NewBatchPoints(client.BatchPointsConfig{Database: v1DB, Precision: "s"})
	var gzRows []row
	for i := 0; i < 1000; i++ {
		t := time.Unix(1_700_000_000+int64(i), 0)
		p, _ := client.NewPoint("gz", map[string]string{"k": "k"}, map[string]interface{}{"v": i}, t)
		bp.AddPoint(p)
		gzRows = append(gzRows, at(t.UnixNano(), map[string]string{"k": "k"}, map[string]field{"v": fInt(int64(i))}))
	}
	must(gz.Write(bp), "gzip Write")
	wire := metric("sluice_http_write_bytes_received_total") - before
	check(wire > 0 && wire < 1000*20/3, "gzip: %v bytes on the wire for 1000 points", wire)
	gz.Close()
	expectTable(v1DB, "gz", gzRows)

	bad, _ := client.NewHTTPClient(client.HTTPConfig{Addr: serverURL, Username: "compat", Password: "wrong"})
	err = bad.Write(bp)
	check(err != nil && strings.Contains(err.Error(), "invalid token"), "a wrong password is refused: %v", err)
	bad.Close()
}

func v1Query() {
	c := v1Client(client.DefaultEncoding)
	defer c.Close()
	// Built as a struct literal: the client sends `params=null`.
	resp, err := c.Query(client.Query{Command: "CREATE DATABASE " + v1DB})
	must(err, "CREATE DATABASE")
	must(resp.Error(), "CREATE DATABASE result")
	bp, _ := client.NewBatchPoints(client.BatchPointsConfig{Database: v1DB, Precision: "s"})
	var rows []row
	for i := 0; i < 10; i++ {
		t := time.Unix(1_700_000_000+int64(i), 0)
		p, _ := client.NewPoint("q", map[string]string{"host": fmt.Sprintf("h%d", i%2)},
			map[string]interface{}{"v": float64(i), "n": i, "s": fmt.Sprintf("s%d", i)}, t)
		bp.AddPoint(p)
		rows = append(rows, at(t.UnixNano(), map[string]string{"host": fmt.Sprintf("h%d", i%2)},
			map[string]field{"v": fFloat(float64(i)), "n": fInt(int64(i)), "s": fStr(fmt.Sprintf("s%d", i))}))
	}
	must(c.Write(bp), "Write")
	expectTable(v1DB, "q", rows)

	step("Query with a struct literal (params=null)")
	q := client.Query{Command: `SELECT "v", "n", "s", "host" FROM "q"`, Database: v1DB, Precision: "ns"}
	resp, err = c.Query(q)
	must(err, "Query")
	must(resp.Error(), "Query result")
	checkEq(len(resp.Results), 1, "results")
	series := resp.Results[0].Series
	checkEq(len(series), 1, "series")
	checkEq(series[0].Name, "q", "series name")
	checkEq(series[0].Columns, []string{"time", "v", "n", "s", "host"}, "columns")
	checkEq(len(series[0].Values), 10, "rows")
	for i, v := range series[0].Values {
		got := fmt.Sprintf("%v %v %v %v %v", v[0], v[1], v[2], v[3], v[4])
		want := fmt.Sprintf("%d %d %d s%d h%d", (1_700_000_000+int64(i))*1_000_000_000, i, i, i, i%2)
		checkEq(got, want, fmt.Sprintf("row %d", i))
	}

	step("bound parameters, GROUP BY, RFC 3339 times")
	resp, err = c.Query(client.NewQueryWithParameters(`SELECT "n" FROM "q" WHERE "host" = $host GROUP BY "host"`,
		v1DB, "", client.Params{"host": "h1"}))
	must(err, "Query with parameters")
	must(resp.Error(), "Query with parameters result")
	series = resp.Results[0].Series
	checkEq(len(series), 1, "one series for host=h1")
	checkEq(series[0].Tags, map[string]string{"host": "h1"}, "series tags")
	checkEq(fmt.Sprint(series[0].Values[0][0]), time.Unix(1_700_000_001, 0).UTC().Format(time.RFC3339), "RFC 3339 time")
	checkEq(len(series[0].Values), 5, "rows for host=h1")

	step("QueryAsChunk")
	chunked, err := c.QueryAsChunk(client.Query{Command: `SELECT "n" FROM "q"`, Database: v1DB, Chunked: true, ChunkSize: 3})
	must(err, "QueryAsChunk")
	var chunks, values int
	for {
		r, err := chunked.NextResponse()
		if errors.Is(err, io.EOF) {
			break
		}
		must(err, "NextResponse")
		must(r.Error(), "chunk result")
		chunks++
		for _, result := range r.Results {
			for _, s := range result.Series {
				values += len(s.Values)
			}
		}
	}
	chunked.Close()
	checkEq(values, 10, "values over all chunks")
	checkEq(chunks, 4, "chunks of 3 rows")

	step("an InfluxQL error is the result's error")
	resp, err = c.Query(client.Query{Command: "SELECT FROM", Database: v1DB})
	check(err != nil || resp.Error() != nil, "a bad statement fails")
}
