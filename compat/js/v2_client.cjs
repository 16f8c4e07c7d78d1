// The official JavaScript v2 client (@influxdata/influxdb-client) against sluice.
//
// Parts:
//   status   ping-less status: /health through the client's transport, 401 on a bad token
//   write    writeApi with batching, gzip above 1,000 bytes (checked on /metrics), flush()
//            and close(), every field type, every precision, 204 as success, a bad line
//            reported as HttpError 400 to flush()
'use strict'

const {InfluxDB, Point, HttpError} = require('@influxdata/influxdb-client')
const {URL, TOKEN, check, checkEq, value, row, expectTable, metric, run} = require('./common.cjs')

const ORG = 'compat-org'
const T0 = 1700000000000000000n

async function status() {
  const influx = new InfluxDB({url: URL, token: TOKEN})
  // The client's transport, as its API helpers use it.
  const health = await influx.transport.request('/health', null, {method: 'GET'})
  checkEq(health.status, 'pass', 'health status')
  checkEq(health.name, 'sluice', 'health name')

  const bad = new InfluxDB({url: URL, token: 'wrong-token'}).getWriteApi(ORG, 'jsdb', 'ns', {maxRetries: 0})
  bad.writeRecord('m v=1 1')
  try {
    await bad.close()
    throw new Error('a wrong token must be refused')
  } catch (err) {
    check(err instanceof HttpError, `HttpError, got ${err}`)
    checkEq(err.statusCode, 401, 'status with a wrong token')
  }
  // Something for the runner to check: one line through the good token.
  const good = new InfluxDB({url: URL, token: TOKEN}).getWriteApi(ORG, 'jsdb', 's')
  good.writeRecord('status v=1i 2')
  await good.close()
  expectTable('jsdb', 'status', [row(2000000000n, {}, {v: value.int(1)})])
}

async function write() {
  const influx = new InfluxDB({url: URL, token: TOKEN})
  let successLines = 0
  const failures = []
  const options = {
    batchSize: 1000,
    flushInterval: 0,
    maxRetries: 3,
    writeSuccess(lines) {
      successLines += lines.length
    },
    writeFailed(error, lines, attempt) {
      failures.push(`${error} (attempt ${attempt}, ${lines.length} lines)`)
    },
  }

  // 25,000 points in batches of 1,000: every request body is over the gzip threshold.
  const before = await metric('sluice_http_write_bytes_received_total')
  const api = influx.getWriteApi(ORG, 'jsdb', 'ns', options)
  const rows = []
  let plainBytes = 0
  for (let i = 0; i < 25000; i++) {
    const t = T0 + BigInt(i) * 1000n
    const p = new Point('batched')
      .tag('host', `h${i % 7}`)
      .floatField('x', i / 4)
      .intField('n', i)
      .timestamp(t.toString())
    plainBytes += p.toLineProtocol().length + 1
    api.writePoint(p)
    rows.push(row(t, {host: `h${i % 7}`}, {x: value.float(i / 4), n: value.int(i)}))
  }
  // close() (like flush()) sends and awaits only the lines still buffered: the batches the
  // WriteApi already sent on its own when one filled up are not awaited (client
  // behaviour, against InfluxDB too). So wait for writeSuccess to account for every line.
  await api.close()
  const deadline = Date.now() + 120000
  while (successLines < 25000 && failures.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  expectTable('jsdb', 'batched', rows)
  const wire = (await metric('sluice_http_write_bytes_received_total')) - before
  check(wire > 0 && wire < plainBytes / 3, `gzip: ${wire} bytes on the wire for ${plainBytes} bytes of lines`)
  checkEq(successLines, 25000, 'lines reported by writeSuccess')
  checkEq(failures, [], 'writeFailed calls')

  // flush() of fewer lines than a batch: written (204) when it resolves; a body under
  // 1,000 bytes goes uncompressed.
  const flushed = influx.getWriteApi(ORG, 'jsdb', 'ns', options)
  const beforeSmall = await metric('sluice_http_write_bytes_received_total')
  flushed.writeRecord(`small v=1i ${T0}`)
  await flushed.flush()
  checkEq((await metric('sluice_http_write_bytes_received_total')) - beforeSmall,
    `small v=1i ${T0}`.length, 'a small body is sent as is')
  checkEq(successLines, 25001, 'writeSuccess after flush()')
  expectTable('jsdb', 'small', [row(T0, {}, {v: value.int(1)})])
  const api2 = flushed

  // Every field type and escapes, with the default point settings.
  api2.useDefaultTags({dc: 'eu 1'})
  api2.writePoint(
    new Point('every type')
      .tag('tag,key', 'va=l ue')
      .floatField('f', -0.125)
      .intField('i', Number.MIN_SAFE_INTEGER) // intField() goes through a JS number
      .uintField('u', '18446744073709551615')
      .stringField('s', 'quote " back \\ slash\nnewline')
      .booleanField('b', false)
      .timestamp(T0.toString()),
  )
  await api2.flush()
  expectTable('jsdb', 'every type', [
    row(T0, {'tag,key': 'va=l ue', dc: 'eu 1'}, {
      f: value.float(-0.125),
      i: value.int('-9007199254740991'),
      u: value.uint('18446744073709551615'),
      s: value.str('quote " back \\ slash\nnewline'),
      b: value.bool(false),
    }),
  ])

  // A bad line: flush() rejects with the server's 400; the good lines of the batch are kept.
  api2.writeRecords(['bad v=1 1', 'bad v=', 'bad v=3 3'])
  try {
    await api2.flush()
    throw new Error('a bad line must be reported')
  } catch (err) {
    check(err instanceof HttpError, `HttpError, got ${err}`)
    checkEq(err.statusCode, 400, 'status of a bad line')
    check(/partial write/.test(err.body) && /unable to parse 'bad v='/.test(err.body), `body: ${err.body}`)
  }
  expectTable('jsdb', 'bad', [row(1, {}, {v: value.float(1)}), row(3, {}, {v: value.float(3)})])
  await api2.close()

  // Every precision (a fresh WriteApi each), times given as strings and Dates.
  const precRows = []
  const units = {ns: 1n, us: 1000n, ms: 1000000n, s: 1000000000n}
  let n = 0
  for (const [precision, nsPerUnit] of Object.entries(units)) {
    const p = influx.getWriteApi(ORG, 'jsdb', precision)
    const t = T0 / nsPerUnit + BigInt(n)
    p.writePoint(new Point('prec').tag('p', precision).tag('how', 'string').intField('v', n).timestamp(t.toString()))
    precRows.push(row(t * nsPerUnit, {p: precision, how: 'string'}, {v: value.int(n)}))
    const date = new Date(Date.UTC(2024, 1, 29, 12, 0, 1, 250))
    p.writePoint(new Point('prec').tag('p', precision).tag('how', 'date').intField('v', n).timestamp(date))
    const dateNs = 1709208001250000000n
    precRows.push(row((dateNs / nsPerUnit) * nsPerUnit, {p: precision, how: 'date'}, {v: value.int(n)}))
    await p.close()
    n++
  }
  expectTable('jsdb', 'prec', precRows)
}

run({status, write})
