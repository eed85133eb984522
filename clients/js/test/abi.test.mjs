// The host side of the partitioner ABI, with modules the Go test driver
// (clients/js/js_test.go, TestNodeABI) builds into SLUICE_TEST_WASM_DIR:
// the WAT and Go SDK example partitioners, the SDK partitioner that panics
// on "boom" and small WAT modules that misbehave one way each.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import path from 'node:path'
import fs from 'node:fs'

const require = createRequire(import.meta.url)
const { createPartitioner, WasmPartitioner, PartitionerError, InvalidModuleError } = require('../src/index.js')

const dir = process.env.SLUICE_TEST_WASM_DIR
assert.ok(dir, 'SLUICE_TEST_WASM_DIR is not set: run these through `go test ./clients/js` (TestNodeABI)')
const wasm = (name) => path.join(dir, name + '.wasm')
const quiet = () => {}

function fnv1a (bytes) {
  let h = 2166136261
  for (const c of bytes) h = Math.imul(h ^ c, 16777619) >>> 0
  return h
}

// What kafkajs passes a partitioner for a topic of n partitions.
const meta = (n) => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 1 }))

test('WAT partitioner: fnv1a32 of the key, no key on partition 0, through the kafkajs interface', () => {
  const partition = createPartitioner({ wasm: wasm('wat') })()
  for (const key of ['a', 'user-1', 'user-2', 'another key', Buffer.from([0, 255, 7])]) {
    const want = fnv1a(Buffer.from(key)) % 5
    assert.equal(partition({ topic: 't', partitionMetadata: meta(5), message: { key, value: 'v' } }), want, `key ${key}`)
  }
  assert.equal(partition({ topic: 't', partitionMetadata: meta(5), message: { value: 'no key' } }), 0)
  assert.equal(partition({ topic: 't', partitionMetadata: meta(5), message: { key: null, value: null } }), 0)
})

test('the module may be given as bytes or a compiled WebAssembly.Module', () => {
  const bytes = fs.readFileSync(wasm('wat'))
  for (const w of [bytes, new Uint8Array(bytes), new WebAssembly.Module(bytes)]) {
    assert.equal(new WasmPartitioner(w).partition('t', { key: 'user-1' }, 7), fnv1a(Buffer.from('user-1')) % 7)
  }
})

test('Go SDK page-view partitioner reads its configuration through sluice.config_get', () => {
  const byUser = new WasmPartitioner(wasm('pageview'), { log: quiet })
  const byPage = new WasmPartitioner(wasm('pageview'), { config: { field: 'page' }, log: quiet })
  const value = '{"user_id":"u42","page":"/pricing"}'
  assert.equal(byUser.partition('t', { key: 'k', value }, 13), fnv1a(Buffer.from('u42')) % 13)
  assert.equal(byPage.partition('t', { key: 'k', value }, 13), fnv1a(Buffer.from('/pricing')) % 13)
  // No field: the key; no key either: partition 0.
  assert.equal(byUser.partition('t', { key: 'user-9', value: '{}' }, 13), fnv1a(Buffer.from('user-9')) % 13)
  assert.equal(byUser.partition('t', { value: '{}' }, 13), 0)
})

test('a hand-written config reader sees exactly the configured value', () => {
  for (const [config, want] of [[{}, 0], [{ p: '3' }, 3], [{ p: '4', other: 'x' }, 4]]) {
    assert.equal(new WasmPartitioner(wasm('config'), { config }).partition('t', {}, 5), want)
  }
})

test('a Go plugin panic fails the record with the panic message, and the next record works', () => {
  const lines = []
  const p = new WasmPartitioner(wasm('gopanic'), { log: (stream, line) => lines.push(`${stream}: ${line}`) })
  assert.throws(() => p.partition('orders', { key: 'boom' }, 3), (e) => {
    assert.ok(e instanceof PartitionerError)
    assert.equal(e.retriable, false)
    assert.equal(e.refused, false)
    assert.equal(e.topic, 'orders')
    // The panic line first; then how the guest stopped (node reports
    // the Go runtime's abort as a trap).
    assert.match(e.message, /^sluice partitioner failed on a record of topic "orders": panic: bad key boom; /)
    return true
  })
  assert.ok(lines.includes('stderr: panic: bad key boom'), lines.join('\n'))
  assert.equal(p.partition('orders', { key: 'fine' }, 3), 0)
})

test('failures and refusals fail that record with the reason', () => {
  const cases = [
    ['trap', /failed on a record of topic "t": trap: unreachable/, false],
    ['refuse', /refused a record of topic "t": no partition for you$/, true],
    ['range', /malformed answer: partition 7 out of range \[0, 3\)/, false],
    ['lost', /malformed answer: answer for 0 records, the batch had 1/, false],
    ['outside', /answer at 16777216\+16 lies outside guest memory/, false]
  ]
  for (const [name, want, refused] of cases) {
    const p = new WasmPartitioner(wasm(name), { log: quiet })
    for (let i = 0; i < 3; i++) {
      assert.throws(() => p.partition('t', { key: 'k' }, 3), (e) => {
        assert.ok(e instanceof PartitionerError, name)
        assert.equal(e.refused, refused, name)
        assert.match(e.message, want, name)
        return true
      })
    }
  }
})

test('an instance that grew past the memory limit fails its record and is replaced', () => {
  const p = new WasmPartitioner(wasm('grow'), { memoryLimitBytes: 1 << 20, log: quiet })
  assert.throws(() => p.partition('t', { key: 'k' }, 3), /memory limit of 1 MiB exceeded/)
  const big = new WasmPartitioner(wasm('grow'), { log: quiet })
  assert.equal(big.partition('t', { key: 'k' }, 3), 0)
})

test('plugin output goes to the log, one line per call', () => {
  const lines = []
  const p = new WasmPartitioner(wasm('hello'), { log: (stream, line) => lines.push(`${stream}: ${line}`) })
  assert.equal(p.partition('t', { key: 'k' }, 3), 0)
  assert.equal(p.partition('t', { key: 'k' }, 3), 0)
  assert.deepEqual(lines, ['stdout: hello from wat', 'stdout: hello from wat'])
})

test('sluice.yield, imported only by modules the broker instrumented, answers 0', () => {
  // The module answers yield() + 1.
  assert.equal(new WasmPartitioner(wasm('yield')).partition('t', { key: 'k' }, 3), 1)
})

test('modules the broker would refuse at deploy are refused at load', () => {
  assert.throws(() => new WasmPartitioner(wasm('badimport')), /unknown import env.now \(function\)/)
  assert.throws(() => createPartitioner({ wasm: wasm('command') }), (e) => e instanceof InvalidModuleError && /-buildmode=c-shared/.test(e.message))
  assert.throws(() => new WasmPartitioner(wasm('transform')), /missing export "sluice_partition"/)
  assert.throws(() => new WasmPartitioner(wasm('sdkkeep'), { log: quiet }), /registers no partitioner/)
  assert.throws(() => new WasmPartitioner(Buffer.from('not wasm')), InvalidModuleError)
  assert.throws(() => createPartitioner({}), TypeError)
})

test('each producer gets its own instance of one compiled module', () => {
  const factory = createPartitioner({ wasm: wasm('wat') })
  const a = factory()
  const b = factory()
  assert.notEqual(a, b)
  const args = { topic: 't', partitionMetadata: meta(11), message: { key: 'user-77' } }
  assert.equal(a(args), b(args))
})
