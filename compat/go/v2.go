package main

// The official Go v2 client, github.com/influxdata/influxdb-client-go/v2.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/influxdata/influxdb-client-go/v2/domain"
)

var v2Parts = map[string]func(){
	"course_blocking": v2CourseBlocking,
	"course_batching": v2CourseBatching,
	"writes":          v2Writes,
	"backpressure":    v2Backpressure,
	"status":          v2Status,
	"query":           v2Query,
}

const t0 = int64(1_700_000_000_000_000_000) // 2023-11-14T22:13:20Z in ns

// The course's first snippet, as written apart from URL, token, org and bucket.
func v2CourseBlocking() {
	client := influxdb2.NewClient(serverURL, token)
	writeAPI := client.WriteAPIBlocking("myorg", "mybucket")
	p := influxdb2.NewPoint("temperature", map[string]string{"location": "room1"},
		map[string]interface{}{"value": 22.5}, time.Now())
	err := writeAPI.WritePoint(context.Background(), p)
	must(err, "WritePoint")
	client.Close()
	// The client's default precision is ns: the point is stored at its exact time.
	expectTable("mybucket", "temperature", []row{
		at(p.Time().UnixNano(), map[string]string{"location": "room1"},
			map[string]field{"value": fFloat(22.5)}),
	})
}

// The course's batching snippet, as written apart from URL, token, org and bucket, with
// the times it sent recorded beside it.
//
// The client sent 100,000 points, 1,000 per `location` (room0..room99), each at
// time.Now() in ns. Points of one location that got the same time.Now() are one row:
// sluice keeps one row per series and time (the last write wins, as InfluxDB does), so
// the expected rows are the distinct (location, time) pairs. Every value is 22.5, so
// which write wins cannot be told apart here; `writes` checks that the last one does.
func v2CourseBatching() {
	sent := make(map[string]map[int64]bool)

	client := influxdb2.NewClientWithOptions(serverURL, token,
		influxdb2.DefaultOptions().SetBatchSize(5000).SetFlushInterval(10000))
	writeAPI := client.WriteAPI("myorg", "mybucket")
	for i := 0; i < 100000; i++ {
		p := influxdb2.NewPointWithMeasurement("temperature").
			AddTag("location", fmt.Sprintf("room%d", i%100)).AddField("value", 22.5).SetTime(time.Now())
		writeAPI.WritePoint(p)

		location := fmt.Sprintf("room%d", i%100)
		if sent[location] == nil {
			sent[location] = make(map[int64]bool)
		}
		sent[location][p.Time().UnixNano()] = true
	}
	writeAPI.Flush()
	client.Close()

	var rows []row
	for location, times := range sent {
		for t := range times {
			rows = append(rows, at(t, map[string]string{"location": location},
				map[string]field{"value": fFloat(22.5)}))
		}
	}
	fmt.Printf("course batching: the client sent 100000 points, %d distinct (location, time) "+
		"pairs, the rows sluice must keep\n", len(rows))
	expectTable("mybucket", "temperature", rows)
}

// httpError is the client's *http.Error behind err (nil when it is another error).
func httpError(err error) *http.Error {
	var e *http.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func v2Writes() {
	ctx := context.Background()
	const bucket = "v2go"
	client := influxdb2.NewClientWithOptions(serverURL, token,
		influxdb2.DefaultOptions().SetHTTPRequestTimeout(60))
	blocking := client.WriteAPIBlocking("compat-org", bucket)

	step("every field type, escapes, a point without time")
	text := `say "hi" \ back\slash, unicode é✓`
	p := influxdb2.NewPoint("every type", map[string]string{"tag,key": "val ue=1"},
		map[string]interface{}{
			"f": 2.25, "i": int64(-42), "i32": int32(7), "u": uint64(18446744073709551615),
			"s": text, "t": true, "b": false, "field key=": 1e300,
		}, time.Unix(0, t0))
	must(blocking.WritePoint(ctx, p), "WritePoint every type")
	expectTable(bucket, "every type", []row{at(t0, map[string]string{"tag,key": "val ue=1"},
		map[string]field{"f": fFloat(2.25), "i": fInt(-42), "i32": fInt(7),
			"u": fUint(18446744073709551615), "s": fStr(text), "t": fBool(true),
			"b": fBool(false), "field key=": fFloat(1e300)})})
	must(blocking.WriteRecord(ctx, "notime v=1i"), "WriteRecord without a time")
	expectTable(bucket, "notime", []row{{tags: nil, fields: map[string]field{"v": fInt(1)}}})

	step("the last write of a series and time wins")
	for i := 0; i < 3; i++ {
		must(blocking.WritePoint(ctx, influxdb2.NewPoint("lastwins",
			map[string]string{"k": "a"}, map[string]interface{}{"v": int64(i)},
			time.Unix(0, t0))), "WritePoint lastwins")
	}
	must(blocking.WriteRecord(ctx, fmt.Sprintf("lastwins,k=a v=10i,w=1i %d", t0+1),
		fmt.Sprintf("lastwins,k=a v=11i %d", t0+1)), "WriteRecord lastwins")
	expectTable(bucket, "lastwins", []row{
		at(t0, map[string]string{"k": "a"}, map[string]field{"v": fInt(2)}),
		// A later write replaces the fields it names and keeps the others.
		at(t0+1, map[string]string{"k": "a"}, map[string]field{"v": fInt(11), "w": fInt(1)}),
	})

	step("a rejected line through WriteAPIBlocking: *http.Error 400, good lines kept")
	err := blocking.WriteRecord(ctx, "bad,host=a v=1 10", "bad,host=a", "bad,host=a v=3 30")
	e := httpError(err)
	check(e != nil, "a bad line must fail with *http.Error, got %v", err)
	checkEq(e.StatusCode, 400, "status of a partial write")
	checkEq(e.Code, "invalid", "code of a partial write")
	check(strings.Contains(e.Message, "partial write") && strings.Contains(e.Message, "missing fields"),
		"message names the error: %q", e.Message)
	expectTable(bucket, "bad", []row{
		at(10, map[string]string{"host": "a"}, map[string]field{"v": fFloat(1)}),
		at(30, map[string]string{"host": "a"}, map[string]field{"v": fFloat(3)}),
	})

	step("every precision option")
	var precRows []row
	moment := time.Date(2024, 2, 29, 12, 34, 56, 789123456, time.UTC)
	for n, precision := range []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond, time.Second} {
		c := influxdb2.NewClientWithOptions(serverURL, token,
			influxdb2.DefaultOptions().SetPrecision(precision))
		w := c.WriteAPIBlocking("compat-org", bucket)
		tags := map[string]string{"p": precision.String()}
		// A point's time is truncated to the precision by the client.
		must(w.WritePoint(ctx, influxdb2.NewPoint("prec", tags,
			map[string]interface{}{"v": int64(n)}, moment)), "WritePoint precision "+precision.String())
		precRows = append(precRows, at(moment.Truncate(precision).UnixNano(), tags,
			map[string]field{"v": fInt(int64(n))}))
		// A record's number is read in the precision's unit.
		units := t0/int64(precision) + int64(n)
		tags2 := map[string]string{"p": precision.String(), "how": "record"}
		must(w.WriteRecord(ctx, fmt.Sprintf("prec,how=record,p=%s v=%di %d", precision, n, units)),
			"WriteRecord precision "+precision.String())
		precRows = append(precRows, at(units*int64(precision), tags2,
			map[string]field{"v": fInt(int64(n))}))
		// The non-blocking API with the same precision.
		a := c.WriteAPI("compat-org", bucket)
		tags3 := map[string]string{"p": precision.String(), "how": "async"}
		a.WritePoint(write.NewPoint("prec", tags3, map[string]interface{}{"v": int64(n)}, moment.Add(time.Hour)))
		a.Flush()
		precRows = append(precRows, at(moment.Add(time.Hour).Truncate(precision).UnixNano(), tags3,
			map[string]field{"v": fInt(int64(n))}))
		c.Close()
	}
	expectTable(bucket, "prec", precRows)

	step("gzip")
	before := metric("sluice_http_write_bytes_received_total")
	gz := influxdb2.NewClientWithOptions(serverURL, token, influxdb2.DefaultOptions().SetUseGZip(true))
	var lines []string
	var gzRows []row
	for i := 0; i < 1000; i++ {
		lines = append(lines, fmt.Sprintf("gz,k=k v=%di %d", i, t0+int64(i)))
		gzRows = append(gzRows, at(t0+int64(i), map[string]string{"k": "k"}, map[string]field{"v": fInt(int64(i))}))
	}
	must(gz.WriteAPIBlocking("compat-org", bucket).WriteRecord(ctx, lines...), "gzip WriteRecord")
	gz.Close()
	wire := metric("sluice_http_write_bytes_received_total") - before
	raw := len(strings.Join(lines, "\n"))
	check(wire > 0 && wire < float64(raw)/3, "gzip: %v bytes on the wire for %d", wire, raw)
	expectTable(bucket, "gz", gzRows)

	step("WriteAPI: Errors() and a rejected line")
	// The non-blocking WriteAPI treats an answer whose message says "partial write" or
	// "unable to parse" as final and not an error (its isIgnorableError: the good lines
	// were written, retrying cannot help): it logs a warning, and Errors() stays silent.
	// InfluxDB answers a bad line the same way, so this is the client's behaviour there too.
	async := client.WriteAPI("compat-org", bucket)
	errs := async.Errors()
	var collected []error
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		for e := range errs {
			mu.Lock()
			collected = append(collected, e)
			mu.Unlock()
		}
		close(done)
	}()
	async.WriteRecord("asyncbad,host=a v=1 10")
	async.WriteRecord("asyncbad,host=a")
	async.WriteRecord("asyncbad,host=a v=3 30")
	async.Flush()
	mu.Lock()
	checkEq(len(collected), 0, "errors reported for a partial write")
	mu.Unlock()
	expectTable(bucket, "asyncbad", []row{
		at(10, map[string]string{"host": "a"}, map[string]field{"v": fFloat(1)}),
		at(30, map[string]string{"host": "a"}, map[string]field{"v": fFloat(3)}),
	})

	// A batch the server refuses whole (a wrong token: 401) reaches Errors().
	wrong := influxdb2.NewClient(serverURL, "wrong-token")
	wrongAPI := wrong.WriteAPI("compat-org", bucket)
	wrongErrs := wrongAPI.Errors()
	wrongAPI.WriteRecord("refused v=1 1")
	wrongAPI.Flush()
	select {
	case err := <-wrongErrs:
		e := httpError(err)
		check(e != nil, "Errors() gives *http.Error, got %T %v", err, err)
		checkEq(e.StatusCode, 401, "status reported on Errors() for a wrong token")
		fmt.Printf("Errors() reported: %v\n", err)
	case <-time.After(60 * time.Second):
		panic("check failed: Errors() reported nothing for a batch refused with 401")
	}
	wrong.Close()
	async.Flush()
	client.Close()
	<-done
}

// The server refuses writes with 503 + Retry-After while its tiny buffer is full. The
// non-blocking WriteAPI keeps a refused batch in its retry queue and sends it again,
// after Retry-After, when it next sends a batch (a full one, or the flush interval's):
// there is no timer of its own. Flush() and Close() send the retry queue once more
// without retrying, so an application that stops writing while the server still refuses
// loses those batches (the same against InfluxDB). This one keeps the flush interval
// ticking with a heartbeat point until sluice holds all 100,000 points, then closes.
func v2Backpressure() {
	const bucket = "v2gopressure"
	before := metric("sluice_backpressure_events_total")
	client := influxdb2.NewClientWithOptions(serverURL, token, influxdb2.DefaultOptions().
		SetBatchSize(1000).SetFlushInterval(500).SetRetryInterval(500).
		SetMaxRetries(100).SetMaxRetryTime(600_000).SetMaxRetryInterval(5_000).
		SetRetryBufferLimit(1_000_000).SetHTTPRequestTimeout(60))
	writeAPI := client.WriteAPI("compat-org", bucket)
	var retries503, retryAfter, otherFailures atomic.Int64
	writeAPI.(*api.WriteAPIImpl).SetWriteFailedCallback(func(batch string, e http.Error, attempts uint) bool {
		if e.StatusCode == 503 && strings.Contains(e.Message, "write buffer full") {
			retries503.Add(1)
			if e.RetryAfter > 0 {
				retryAfter.Add(1)
			}
		} else {
			otherFailures.Add(1)
			fmt.Printf("unexpected failure: %v\n", e.Error())
		}
		return true
	})
	var rows []row
	const count = 100_000
	for i := 0; i < count; i++ {
		t := t0 + int64(i)*1_000_000
		series := fmt.Sprintf("s%d", i%20)
		writeAPI.WritePoint(write.NewPoint("pressured", map[string]string{"series": series},
			map[string]interface{}{"value": int64(i), "half": float64(i) / 2}, time.Unix(0, t)))
		rows = append(rows, at(t, map[string]string{"series": series},
			map[string]field{"value": fInt(int64(i)), "half": fFloat(float64(i) / 2)}))
	}
	deadline := time.Now().Add(400 * time.Second)
	for beat := int64(0); ; beat++ {
		if sqlCount(bucket, "pressured", "value") == count {
			break
		}
		check(time.Now().Before(deadline), "sluice holds %d of %d points after 400 s", sqlCount(bucket, "pressured", "value"), count)
		writeAPI.WritePoint(write.NewPoint("heartbeat", nil, map[string]interface{}{"n": beat}, time.Unix(0, t0+beat)))
		time.Sleep(500 * time.Millisecond)
	}
	client.Close()
	refused := metric("sluice_backpressure_events_total") - before
	check(refused > 0, "the server refused some writes with 503 (the scenario must exercise retries)")
	check(retries503.Load() > 0, "the client retried after 503")
	checkEq(retryAfter.Load(), retries503.Load(), "503 answers that carried Retry-After")
	checkEq(otherFailures.Load(), int64(0), "failures other than 503 'write buffer full'")
	fmt.Printf("backpressure: %v writes refused with 503, %d client retries\n", refused, retries503.Load())
	expectTable(bucket, "pressured", rows)
}

func v2Status() {
	ctx := context.Background()
	client := influxdb2.NewClient(serverURL, token)
	defer client.Close()
	ok, err := client.Ping(ctx)
	must(err, "Ping")
	check(ok, "Ping is true")
	health, err := client.Health(ctx)
	must(err, "Health")
	checkEq(string(health.Status), "pass", "Health().Status")
	checkEq(health.Name, "sluice", "Health().Name")
	ready, err := client.Ready(ctx)
	must(err, "Ready")
	check(ready.Status != nil && *ready.Status == "ready", "Ready().Status: %v", ready.Status)

	org, err := client.OrganizationsAPI().FindOrganizationByName(ctx, "myorg")
	must(err, "FindOrganizationByName")
	checkEq(org.Name, "myorg", "organization name")
	check(org.Id != nil && *org.Id != "", "organization id")
	orgs, err := client.OrganizationsAPI().GetOrganizations(ctx)
	must(err, "GetOrganizations")
	check(len(*orgs) == 1, "one organization: %v", *orgs)

	buckets := client.BucketsAPI()
	created, err := buckets.CreateBucketWithName(ctx, org, "gobucket", domain.RetentionRule{EverySeconds: 3600})
	must(err, "CreateBucketWithName")
	checkEq(created.Name, "gobucket", "created bucket name")
	check(created.Id != nil, "created bucket has an id")
	checkEq(created.RetentionRules[0].EverySeconds, int64(3600), "created bucket retention")
	found, err := buckets.FindBucketByName(ctx, "gobucket")
	must(err, "FindBucketByName")
	checkEq(*found.Id, *created.Id, "FindBucketByName id")
	byID, err := buckets.FindBucketByID(ctx, *created.Id)
	must(err, "FindBucketByID")
	checkEq(byID.Name, "gobucket", "FindBucketByID name")
	_, err = buckets.FindBucketByName(ctx, "no_such_bucket")
	check(err != nil, "FindBucketByName of an unknown bucket fails")
	all, err := buckets.GetBuckets(ctx)
	must(err, "GetBuckets")
	var names []string
	for _, b := range *all {
		names = append(names, b.Name)
	}
	check(strings.Contains(strings.Join(names, ","), "gobucket"), "GetBuckets lists it: %v", names)
	// (The generated API's error carries the code, not the status: 422 "conflict".)
	_, err = buckets.CreateBucketWithName(ctx, org, "gobucket")
	check(err != nil && strings.Contains(err.Error(), "conflict: bucket with name gobucket already exists"),
		"a duplicate bucket is a conflict, got %v", err)

	// A write by bucket ID lands in that bucket (the client's docs allow an ID).
	must(client.WriteAPIBlocking("myorg", *created.Id).WriteRecord(ctx,
		fmt.Sprintf("byid,k=v n=1i %d", time.Now().UnixNano())), "write by bucket id")
	status, _, text := httpDo("GET", "/api/v2/buckets", nil, map[string]string{"Authorization": "Token " + token})
	check(status == 200 && !strings.Contains(text, `"name":"`+*created.Id+`"`),
		"no bucket named by the id was created: %s", text)
	must(buckets.DeleteBucket(ctx, created), "DeleteBucket")
	_, err = buckets.FindBucketByName(ctx, "gobucket")
	check(err != nil, "the deleted bucket is gone")

	kept, err := buckets.CreateBucketWithName(ctx, org, "gokept")
	must(err, "CreateBucketWithName gokept")
	must(client.WriteAPIBlocking("myorg", kept.Name).WriteRecord(ctx, "kept,host=a v=2i 5"), "write gokept")
	expectTable("gokept", "kept", []row{at(5, map[string]string{"host": "a"}, map[string]field{"v": fInt(2)})})

	bad := influxdb2.NewClient(serverURL, "wrong-token")
	err = bad.WriteAPIBlocking("myorg", "gokept").WriteRecord(ctx, "kept v=3i 6")
	e := httpError(err)
	check(e != nil && e.StatusCode == 401, "a wrong token is 401, got %v", err)
	_, err = bad.BucketsAPI().GetBuckets(ctx)
	check(err != nil, "GetBuckets with a wrong token fails")
	bad.Close()
}

// QueryAPI speaks Flux (POST /api/v2/query), which sluice does not (it has no Flux):
// listed in compat/known-issues.txt. The query reads back what was written.
func v2Query() {
	ctx := context.Background()
	client := influxdb2.NewClient(serverURL, token)
	defer client.Close()
	now := time.Now().Truncate(time.Second)
	must(client.WriteAPIBlocking("myorg", "goquery").WritePoint(ctx, influxdb2.NewPoint("q",
		map[string]string{"host": "a"}, map[string]interface{}{"v": 1.5}, now)), "write")
	expectTable("goquery", "q", []row{at(now.UnixNano(), map[string]string{"host": "a"},
		map[string]field{"v": fFloat(1.5)})})
	result, err := client.QueryAPI("myorg").Query(ctx,
		`from(bucket:"goquery") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "q")`)
	must(err, "QueryAPI().Query of Flux")
	var got []string
	for result.Next() {
		r := result.Record()
		got = append(got, fmt.Sprintf("%s=%v@%d", r.Field(), r.Value(), r.Time().UnixNano()))
	}
	must(result.Err(), "Flux result")
	checkEq(got, []string{fmt.Sprintf("v=1.5@%d", now.UnixNano())}, "Flux rows")
}
