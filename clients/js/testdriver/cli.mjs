// Test driver for the Go tests (clients/js/js_test.go): reads JSON lines of
// records from stdin ({"key": base64|null, "value": base64|null,
// "headers": [[name, base64|null], ...], "timestamp": ms}) and writes one
// line per record:
//   node testdriver/cli.mjs partition WASM PARTITIONS [key=value ...]
//       the plugin's partition, or "error: <message>"
//   node testdriver/cli.mjs encode PARTITIONS
//       the hex of the ABI Input this package writes for it (topic "t")
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

const require = createRequire(import.meta.url)
const { WasmPartitioner, encodeInput } = require('../src/index.js')

const [mode, ...args] = process.argv.slice(2)
const b64 = (s) => (s === null || s === undefined ? null : Buffer.from(s, 'base64'))

function record (line) {
  const j = JSON.parse(line)
  const headers = {}
  for (const [k, v] of j.headers || []) (headers[k] ||= []).push(b64(v))
  return { key: b64(j.key), value: b64(j.value), headers, timestamp: j.timestamp || 0 }
}

let handle
if (mode === 'partition') {
  const [wasm, partitions, ...kvs] = args
  const config = Object.fromEntries(kvs.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
  const p = new WasmPartitioner(wasm, { config, log: () => {} })
  handle = (r) => {
    try {
      return String(p.partition('t', r, Number(partitions)))
    } catch (e) {
      return `error: ${e.message}`
    }
  }
} else if (mode === 'encode') {
  handle = (r) => encodeInput('t', Number(args[0]), r).toString('hex')
} else {
  console.error('usage: cli.mjs partition WASM PARTITIONS [k=v...] | encode PARTITIONS')
  process.exit(2)
}
const out = []
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== '') out.push(handle(record(line)))
}
process.stdout.write(out.join('\n') + '\n')
