// Shared helpers for the JavaScript compatibility scenarios; the same protocol as
// compat/python/compat_common.py (SLUICE_URL, SLUICE_TOKEN, SLUICE_EXPECT, `SKIPPED:` lines).
'use strict'

const fs = require('node:fs')

const URL = process.env.SLUICE_URL
const TOKEN = process.env.SLUICE_TOKEN || ''

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`)
}

function checkEq(actual, expected, what) {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`)
}

function skipped(reason) {
  console.log(`SKIPPED: ${reason}`)
}

const value = {
  float: (v) => ['f', String(v)],
  int: (v) => ['i', String(v)],
  uint: (v) => ['u', String(v)],
  str: (v) => ['s', v],
  bool: (v) => ['b', Boolean(v)],
}

/** One expected row; `time` in nanoseconds as a BigInt, a decimal string or a safe
 * integer (null for any time). */
function row(time, tags, fields) {
  return [time, tags, fields]
}

/** Records that `table` in `db` must hold exactly `rows`. */
function expectTable(db, table, rows) {
  // Times beyond 2^53 must reach the runner as exact JSON integers.
  const body = JSON.stringify({db, table, rows: rows.map((r) => [
    r[0] === null ? null : `@@${BigInt(r[0])}@@`, r[1], r[2]])})
  fs.appendFileSync(process.env.SLUICE_EXPECT, body.replace(/"@@(-?\d+)@@"/g, '$1') + '\n')
}

async function metric(name) {
  const response = await fetch(`${URL}/metrics`, { headers: { Authorization: `Token ${TOKEN}` } })
  checkEq(response.status, 200, 'GET /metrics status')
  for (const line of (await response.text()).split('\n')) {
    if (line.startsWith(name + ' ')) return Number(line.split(' ')[1])
  }
  return 0
}

/** Runs the parts named on the command line (all when none). */
async function main(parts) {
  const names = process.argv.slice(2)
  for (const name of names.length ? names : Object.keys(parts)) {
    if (!parts[name]) throw new Error(`unknown part ${name}`)
    console.log(`-- ${name}`)
    await parts[name]()
  }
  console.log('ok')
}

function run(parts) {
  main(parts).catch((err) => {
    console.error(err && err.stack ? err.stack : err)
    process.exit(1)
  })
}

module.exports = {URL, TOKEN, check, checkEq, skipped, value, row, expectTable, metric, run}
