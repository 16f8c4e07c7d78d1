package main

// The official Go client for InfluxDB 3, github.com/InfluxCommunity/influxdb3-go/v2.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/InfluxCommunity/influxdb3-go/v2/influxdb3"
	"github.com/apache/arrow-go/v18/arrow"
)

var v3Parts = map[string]func(){
	"write": v3Write,
	"query": v3Query,
}

const v3DB = "go3db"

func v3Client(extra ...func(*influxdb3.ClientConfig)) *influxdb3.Client {
	config := influxdb3.ClientConfig{Host: serverURL, Token: token, Database: v3DB}
	for _, f := range extra {
		f(&config)
	}
	c, err := influxdb3.New(config)
	must(err, "influxdb3.New")
	return c
}

// sensor is a point as a struct, the shape WriteData encodes.
type sensor struct {
	Measurement string    `lp:"measurement"`
	Location    string    `lp:"tag,location"`
	Value       float64   `lp:"field,value"`
	Count       int64     `lp:"field,count"`
	OK          bool      `lp:"field,ok"`
	Note        string    `lp:"field,note"`
	Time        time.Time `lp:"timestamp"`
}

func v3Write() {
	ctx := context.Background()
	c := v3Client()
	defer c.Close()

	step("WritePoints: every field type")
	p := influxdb3.NewPointWithMeasurement("every").SetTag("host", "a b").
		SetDoubleField("f", 1.5).SetIntegerField("i", -7).SetUIntegerField("u", 18446744073709551615).
		SetStringField("s", `a "quoted" \ string`).SetBooleanField("b", true).
		SetTimestamp(time.Unix(0, t0))
	p2 := influxdb3.NewPoint("every", map[string]string{"host": "c"},
		map[string]any{"f": 2.5}, time.Unix(0, t0+1))
	must(c.WritePoints(ctx, []*influxdb3.Point{p, p2}), "WritePoints")
	expectTable(v3DB, "every", []row{
		at(t0, map[string]string{"host": "a b"}, map[string]field{"f": fFloat(1.5), "i": fInt(-7),
			"u": fUint(18446744073709551615), "s": fStr(`a "quoted" \ string`), "b": fBool(true)}),
		at(t0+1, map[string]string{"host": "c"}, map[string]field{"f": fFloat(2.5)}),
	})

	step("Write of line protocol with every precision, a database and default tags")
	var rows []row
	for n, pr := range []struct {
		precision influxdb3.Precision
		ns        int64
	}{{influxdb3.Nanosecond, 1}, {influxdb3.Microsecond, 1_000}, {influxdb3.Millisecond, 1_000_000}, {influxdb3.Second, 1_000_000_000}} {
		units := t0/pr.ns + int64(n)
		lp := fmt.Sprintf("prec,p=%s v=%di %d", pr.precision, n, units)
		for _, useV2 := range []bool{false, true} {
			db := "go3prec_v3"
			if useV2 {
				db = "go3prec_v2"
			}
			must(c.Write(ctx, []byte(lp), influxdb3.WithPrecision(pr.precision), influxdb3.WithDatabase(db),
				influxdb3.WithUseV2Api(useV2)), fmt.Sprintf("Write precision %s (v2 api %v)", pr.precision, useV2))
		}
		rows = append(rows, at(units*pr.ns, map[string]string{"p": pr.precision.String()},
			map[string]field{"v": fInt(int64(n))}))
	}
	expectTable("go3prec_v3", "prec", rows)
	expectTable("go3prec_v2", "prec", rows)

	must(c.WritePoints(ctx, []*influxdb3.Point{
		influxdb3.NewPointWithMeasurement("tagged").SetTag("own", "x").SetIntegerField("v", 1).SetTimestamp(time.Unix(0, t0)),
	}, influxdb3.WithDefaultTags(map[string]string{"region": "eu", "own": "default"})), "WritePoints with default tags")
	expectTable(v3DB, "tagged", []row{at(t0, map[string]string{"own": "x", "region": "eu"},
		map[string]field{"v": fInt(1)})})

	step("WriteData of annotated structs, gzip above a threshold, no_sync (v3 path only)")
	var sensors []any
	var sensorRows []row
	for i := 0; i < 500; i++ {
		t := time.Unix(0, t0+int64(i)*1_000)
		sensors = append(sensors, sensor{"sensor", fmt.Sprintf("room%d", i%5), float64(i) / 4, int64(i), i%2 == 0, "n", t})
		sensorRows = append(sensorRows, at(t.UnixNano(), map[string]string{"location": fmt.Sprintf("room%d", i%5)},
			map[string]field{"value": fFloat(float64(i) / 4), "count": fInt(int64(i)), "ok": fBool(i%2 == 0), "note": fStr("n")}))
	}
	before := metric("sluice_http_write_bytes_received_total")
	must(c.WriteData(ctx, sensors, influxdb3.WithGzipThreshold(100), influxdb3.WithUseV2Api(false),
		influxdb3.WithNoSync(true)), "WriteData")
	wire := metric("sluice_http_write_bytes_received_total") - before
	// About 80 bytes a line uncompressed.
	check(wire > 0 && wire < 500*80/4, "gzip: %v bytes on the wire for 500 points", wire)
	expectTable(v3DB, "sensor", sensorRows)

	step("a partial write on the default (v2) path: ServerError 400; good lines kept")
	err := c.Write(ctx, []byte("part v=1 1\npart v=\npart v=3 3"))
	var server *influxdb3.ServerError
	check(errors.As(err, &server) && server.StatusCode == 400 && strings.Contains(server.Message, "partial write"),
		"a partial write on the v2 path: 400, got %v", err)
	expectTable(v3DB, "part", []row{at(1, nil, map[string]field{"v": fFloat(1)}), at(3, nil, map[string]field{"v": fFloat(3)})})

	step("a partial write on the v3 path: PartialWriteError names the line")
	err = c.Write(ctx, []byte("part3 v=1 1\npart3 v=\npart3 v=3 3"), influxdb3.WithUseV2Api(false))
	var partial *influxdb3.PartialWriteError
	check(errors.As(err, &partial), "a bad line gives *PartialWriteError, got %T %v", err, err)
	checkEq(partial.StatusCode, 400, "status of a partial write")
	check(len(partial.LineErrors) == 1 && partial.LineErrors[0].LineNumber == 2 &&
		partial.LineErrors[0].OriginalLine == "part3 v=", "the second line is named: %+v", partial.LineErrors)
	expectTable(v3DB, "part3", []row{at(1, nil, map[string]field{"v": fFloat(1)}), at(3, nil, map[string]field{"v": fFloat(3)})})
	err = c.Write(ctx, []byte("strict v=1 1\nstrict v="), influxdb3.WithUseV2Api(false), influxdb3.WithAcceptPartial(false))
	check(errors.As(err, &server) && server.StatusCode == 400, "accept_partial=false: 400, got %v", err)
	must(c.Write(ctx, []byte("strict v=2 2")), "Write strict")
	expectTable(v3DB, "strict", []row{at(2, nil, map[string]field{"v": fFloat(2)})})

	bad := v3Client(func(config *influxdb3.ClientConfig) { config.Token = "wrong-token" })
	err = bad.Write(ctx, []byte("refused v=1 1"))
	check(errors.As(err, &server) && server.StatusCode == 401, "a wrong token is 401, got %v", err)
	bad.Close()
}

// asInt64 reads an integer or a timestamp column value as int64.
func asInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case arrow.Timestamp:
		return int64(x)
	case time.Time:
		return x.UnixNano()
	}
	panic(fmt.Sprintf("check failed: not an integer or time: %T %v", v, v))
}

func v3Query() {
	ctx := context.Background()
	c := v3Client()
	defer c.Close()
	var lines []string
	for i := 0; i < 10; i++ {
		lines = append(lines, fmt.Sprintf("q,host=h%d v=%d.5,n=%di,s=\"s%d\" %d", i%2, i, i, i, t0+int64(i)))
	}
	must(c.Write(ctx, []byte(strings.Join(lines, "\n"))), "Write")
	var rows []row
	for i := 0; i < 10; i++ {
		rows = append(rows, at(t0+int64(i), map[string]string{"host": fmt.Sprintf("h%d", i%2)},
			map[string]field{"v": fFloat(float64(i) + 0.5), "n": fInt(int64(i)), "s": fStr(fmt.Sprintf("s%d", i))}))
	}
	expectTable(v3DB, "q", rows)

	step("SQL over Flight")
	it, err := c.Query(ctx, "SELECT host, v, n, s, time FROM q ORDER BY time")
	must(err, "Query SQL")
	var got []string
	for it.Next() {
		v := it.Value()
		got = append(got, fmt.Sprintf("%v %v %v %v %d", v["host"], v["v"], v["n"], v["s"], asInt64(v["time"])))
	}
	must(it.Err(), "SQL iterator")
	var want []string
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf("h%d %v %d s%d %d", i%2, float64(i)+0.5, i, i, t0+int64(i)))
	}
	checkEq(got, want, "SQL rows")

	step("SQL with a parameter, PointValues")
	pv, err := c.QueryPointValueWithParameters(ctx, "SELECT * FROM q WHERE host = $host AND n > $n",
		influxdb3.QueryParameters{"host": "h1", "n": 5})
	must(err, "QueryPointValueWithParameters")
	var ns []int64
	for {
		p, err := pv.Next()
		if errors.Is(err, influxdb3.Done) {
			break
		}
		must(err, "PointValues")
		ns = append(ns, *p.GetIntegerField("n"))
	}
	sort.Slice(ns, func(a, b int) bool { return ns[a] < ns[b] })
	checkEq(ns, []int64{7, 9}, "rows with host=h1 and n>5")

	step("InfluxQL over Flight")
	it, err = c.Query(ctx, `SELECT v, n FROM q WHERE host = 'h1'`, influxdb3.WithQueryType(influxdb3.InfluxQL))
	must(err, "Query InfluxQL")
	got = nil
	for it.Next() {
		v := it.Value()
		if m, ok := v["iox::measurement"]; ok {
			checkEq(m, "q", "iox::measurement")
		}
		got = append(got, fmt.Sprintf("%v %v %d", v["v"], v["n"], asInt64(v["time"])))
	}
	must(it.Err(), "InfluxQL iterator")
	want = nil
	for _, i := range []int{1, 3, 5, 7, 9} {
		want = append(want, fmt.Sprintf("%v %d %d", float64(i)+0.5, i, t0+int64(i)))
	}
	checkEq(got, want, "InfluxQL rows for host=h1")

	step("a query of a missing table fails with the server's reason")
	_, err = c.Query(ctx, "SELECT * FROM no_such_table")
	check(err != nil && strings.Contains(err.Error(), "no_such_table"), "missing table: %v", err)
}
