'use strict'
// @sluicemq/kafkajs-partitioner: runs a Sluice partitioner plugin (a .wasm
// speaking the batch ABI v2 of docs/plugin-abi.md) inside a kafkajs
// producer, so a Node service picks, for every record, the partition the
// broker picks with the same module and configuration.
//
// The host side of the ABI implemented here, for one hook (partitioner)
// and one record per call (kafkajs partitions message by message):
//   - WASI preview 1 through node:wasi, with no preopened directories, no
//     arguments and no environment; fd 1 and 2 go to the `log` option.
//   - imports sluice.config_get (the plugin's configuration) and
//     sluice.yield (only modules instrumented by the broker import it;
//     client modules are not instrumented, so it just answers 0).
//   - per call: sluice_alloc(len), the Input written there,
//     sluice_partition(ptr, len) -> ptr<<32|len of the Output.

const fs = require('node:fs')
const { WASI } = require('node:wasi')

const ABI_VERSION = 2
const STATUS_OK = 0
const STATUS_REJECTED = 1
const STATUS_POLICY = 2
const HEADER_SIZE = 32
const PAGE = 65536
const DEFAULT_MEMORY_LIMIT = 64 * 1024 * 1024 // the broker's default
const MAX_LOG_LINE = 16 * 1024
const MAX_PANIC_LINE = 512
const WASI_EFAULT = 21

/** A record the plugin could not partition: it trapped, exited, refused
 * the record or answered something malformed. `retriable` is false so
 * kafkajs fails the send at once instead of retrying it. */
class PartitionerError extends Error {
  constructor (message, { topic, refused = false, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'PartitionerError'
    this.topic = topic
    this.refused = refused
    this.retriable = false
  }
}

/** The module cannot serve as a partitioner (thrown at load). */
class InvalidModuleError extends Error {
  constructor (message) {
    super(`sluice partitioner: invalid module: ${message}`)
    this.name = 'InvalidModuleError'
  }
}

// PluginExit is what proc_exit throws to unwind the guest.
class PluginExit extends Error {
  constructor (code) {
    super(`exit code ${code}`)
    this.code = code
  }
}

function toBytes (v) {
  if (v === null || v === undefined) return null
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  if (Buffer.isBuffer(v)) return v
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  if (v instanceof ArrayBuffer) return Buffer.from(v)
  return Buffer.from(String(v), 'utf8')
}

/** readModule accepts a path (string or URL), bytes or a compiled
 * WebAssembly.Module. */
function readModule (wasm) {
  if (wasm instanceof WebAssembly.Module) return wasm
  let bytes
  if (typeof wasm === 'string' || wasm instanceof URL) {
    bytes = fs.readFileSync(wasm)
  } else if (wasm instanceof Uint8Array || wasm instanceof ArrayBuffer) {
    bytes = wasm
  } else {
    throw new TypeError('sluice partitioner: `wasm` must be a path, a URL, bytes or a WebAssembly.Module')
  }
  try {
    return new WebAssembly.Module(bytes) // synchronous: kafkajs partitioners are
  } catch (e) {
    throw new InvalidModuleError(e.message)
  }
}

/** checkModule refuses what the broker's deploy would refuse for a
 * partitioner (as far as the JS API shows a module: names and kinds, not
 * signatures, which the instance checks). */
function checkModule (mod) {
  const exports = new Map(WebAssembly.Module.exports(mod).map(e => [e.name, e.kind]))
  for (const name of ['sluice_alloc', 'sluice_partition']) {
    if (exports.get(name) !== 'function') {
      throw new InvalidModuleError(`missing export "${name}" (a partitioner needs sluice_alloc and sluice_partition)`)
    }
  }
  if (exports.get('memory') !== 'memory') {
    throw new InvalidModuleError('missing exported memory "memory"')
  }
  if (exports.has('_start') && !exports.has('_initialize')) {
    throw new InvalidModuleError('the module is a WASI command (it exports _start, not _initialize): ' +
      'build Go plugins as reactors with -buildmode=c-shared')
  }
  for (const imp of WebAssembly.Module.imports(mod)) {
    const ok = imp.kind === 'function' &&
      (imp.module === 'wasi_snapshot_preview1' ||
       (imp.module === 'sluice' && (imp.name === 'config_get' || imp.name === 'yield')))
    if (!ok) {
      throw new InvalidModuleError(`unknown import ${imp.module}.${imp.name} (${imp.kind}): plugins may import WASI preview 1 and sluice.config_get only`)
    }
  }
  return exports.has('_initialize')
}

// A field's byte length: strings are written UTF-8 encoded without an
// intermediate Buffer (this runs once per record).
function fieldLength (v) {
  if (v === null || v === undefined) return 0
  return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : toBytes(v).length
}

// writeField writes nullable bytes (i32 length, -1 = null) at o.
function writeField (buf, o, v) {
  if (v === null || v === undefined) return buf.writeInt32LE(-1, o)
  if (typeof v === 'string') {
    const n = buf.write(v, o + 4, 'utf8')
    buf.writeUInt32LE(n, o)
    return o + 4 + n
  }
  const b = toBytes(v)
  buf.writeUInt32LE(b.length, o)
  return o + 4 + b.copy(buf, o + 4)
}

/** encodeInput is the ABI Input of a batch of one record for the
 * partitioner: partition -1, the topic's partition count, no reader
 * fields. Exported for the conformance tests. */
function encodeInput (topic, numPartitions, record) {
  const { key, value } = record
  const headers = []
  if (record.headers) {
    for (const k in record.headers) {
      const v = record.headers[k]
      if (Array.isArray(v)) {
        for (const one of v) if (one !== undefined) headers.push(k, one)
      } else if (v !== undefined) {
        headers.push(k, v)
      }
    }
  }
  const topicLen = Buffer.byteLength(topic, 'utf8')
  let body = 8 + 8 + 4 + fieldLength(key) + 4 + fieldLength(value) + 4
  for (let i = 0; i < headers.length; i += 2) {
    body += 4 + Buffer.byteLength(headers[i], 'utf8') + 4 + fieldLength(headers[i + 1])
  }
  const buf = Buffer.allocUnsafe(HEADER_SIZE + topicLen + 4 + body)
  buf.writeUInt32LE(ABI_VERSION, 0)
  buf.writeInt32LE(-1, 4)
  buf.writeInt32LE(numPartitions, 8)
  buf.writeUInt32LE(1, 12)
  buf.writeUInt32LE(topicLen, 16)
  buf.fill(0, 20, 32) // group id, client id, principal: none
  let o = 32 + buf.write(topic, 32, 'utf8')
  o = buf.writeUInt32LE(body, o)
  // i64 timestamp as two halves (a Number holds milliseconds exactly).
  const ts = Math.trunc(Number(record.timestamp) || 0)
  const hi = Math.floor(ts / 0x100000000)
  o = buf.writeUInt32LE(ts - hi * 0x100000000, o)
  o = buf.writeInt32LE(hi, o)
  o = buf.writeInt32LE(-1, o) // offset -1: none at produce time
  o = buf.writeInt32LE(-1, o)
  o = writeField(buf, o, key)
  o = writeField(buf, o, value)
  o = buf.writeUInt32LE(headers.length / 2, o)
  for (let i = 0; i < headers.length; i += 2) {
    const n = buf.write(headers[i], o + 4, 'utf8')
    buf.writeUInt32LE(n, o)
    o = writeField(buf, o + 4 + n, headers[i + 1])
  }
  if (o !== buf.length) throw new Error(`BUG: encoded ${o} of ${buf.length} bytes`)
  return buf
}

/** decodeOutput reads a partitioner Output for a batch of one record;
 * it returns the partition or throws (a PartitionerError with refused
 * set for a refusal, a plain Error for a malformed answer). */
function decodeOutput (out, numPartitions) {
  const need = (n, o) => {
    if (out.length - o < n) throw new Error(`answer truncated at byte ${o}`)
  }
  need(4, 0)
  const status = out.readUInt32LE(0)
  if (status === STATUS_REJECTED || status === STATUS_POLICY) {
    need(4, 4)
    const n = out.readUInt32LE(4)
    need(n, 8)
    throw new PartitionerError(out.subarray(8, 8 + n).toString('utf8'), { refused: true })
  }
  if (status !== STATUS_OK) throw new Error(`unknown status ${status}`)
  need(4, 4)
  const count = out.readUInt32LE(4)
  if (count !== 1) throw new Error(`answer for ${count} records, the batch had 1`)
  need(4, 8)
  const part = out.readInt32LE(8)
  if (out.length !== 12) throw new Error(`${out.length - 12} trailing bytes`)
  if (part < 0 || part >= numPartitions) throw new Error(`partition ${part} out of range [0, ${numPartitions})`)
  return part
}

/** A line-splitting writer for the plugin's stdout or stderr. */
class Lines {
  constructor (stream, log) {
    this.stream = stream
    this.log = log
    this.buf = ''
    this.panicLine = ''
  }

  write (bytes) {
    let s = this.buf + Buffer.from(bytes).toString('utf8')
    let i
    while ((i = s.indexOf('\n')) >= 0) {
      this.emit(s.slice(0, i))
      s = s.slice(i + 1)
    }
    this.buf = s
    if (this.buf.length >= MAX_LOG_LINE) this.flush()
  }

  flush () {
    if (this.buf !== '') this.emit(this.buf)
    this.buf = ''
  }

  emit (line) {
    if (this.panicLine === '' && (line.startsWith('panic: ') || line.startsWith('fatal error: '))) {
      this.panicLine = line.slice(0, MAX_PANIC_LINE)
    }
    this.log(this.stream, line)
  }
}

function defaultLog (stream, line) {
  process.stderr.write(`sluice partitioner ${stream}: ${line}\n`)
}

/** WasmPartitioner runs one partitioner module. Calls are synchronous;
 * one instance serves them all (Node runs JavaScript on one thread) and
 * is replaced after any failure, as the broker discards a failed
 * instance. */
class WasmPartitioner {
  /**
   * @param {string|URL|Uint8Array|ArrayBuffer|WebAssembly.Module} wasm
   * @param {object} [options]
   * @param {Record<string,string>} [options.config] the plugin
   *   configuration, the same key=value pairs as the broker's deploy
   * @param {number} [options.memoryLimitBytes] an instance whose memory
   *   grew past this is discarded and its record fails (default 64 MiB,
   *   as the broker; checked after each call)
   * @param {(stream: string, line: string) => void} [options.log]
   *   receives the plugin's stdout and stderr lines (default: stderr)
   */
  constructor (wasm, options = {}) {
    this.module = readModule(wasm)
    this.sdk = checkModule(this.module)
    this.config = new Map()
    for (const [k, v] of Object.entries(options.config || {})) {
      this.config.set(k, Buffer.from(String(v), 'utf8'))
    }
    this.memoryLimit = options.memoryLimitBytes || DEFAULT_MEMORY_LIMIT
    this.log = options.log || defaultLog
    this.inst = null
    this.inst = this.newInstance()
    this.probe()
  }

  newInstance () {
    const self = this
    const st = { memory: null, stdout: new Lines('stdout', this.log), stderr: new Lines('stderr', this.log) }
    const wasi = new WASI({ version: 'preview1', args: [], env: {}, preopens: {}, returnOnExit: true })
    // getImportObject is Node 19.8+; wasiImport is the same object on
    // every version (Debian 12's Node is 18).
    const wasiImports = { ...wasi.wasiImport }
    const passWrite = wasiImports.fd_write
    wasiImports.fd_write = (fd, iovs, iovsLen, nwrittenPtr) => {
      if (fd !== 1 && fd !== 2) return passWrite(fd, iovs, iovsLen, nwrittenPtr)
      const mem = Buffer.from(st.memory.buffer)
      let total = 0
      for (let i = 0; i < iovsLen; i++) {
        const at = iovs + 8 * i
        if (at + 8 > mem.length) return WASI_EFAULT
        const ptr = mem.readUInt32LE(at)
        const len = mem.readUInt32LE(at + 4)
        if (ptr + len > mem.length) return WASI_EFAULT
        ;(fd === 1 ? st.stdout : st.stderr).write(mem.subarray(ptr, ptr + len))
        total += len
      }
      if (nwrittenPtr + 4 > mem.length) return WASI_EFAULT
      mem.writeUInt32LE(total, nwrittenPtr)
      return 0
    }
    // Unwind the guest with the exit code, which an export call cannot
    // return (Go plugins exit with code 2 after printing a panic).
    wasiImports.proc_exit = (code) => { throw new PluginExit(code) }
    const imports = {
      wasi_snapshot_preview1: wasiImports,
      sluice: {
        config_get (keyPtr, keyLen, bufPtr, bufCap) {
          return configGet(st.memory, self.config, keyPtr >>> 0, keyLen >>> 0, bufPtr >>> 0, bufCap >>> 0)
        },
        yield () { return 0 }
      }
    }
    let instance
    try {
      instance = new WebAssembly.Instance(this.module, imports)
      st.memory = instance.exports.memory
      wasi.initialize(instance) // runs _initialize when present
    } catch (e) {
      st.stdout.flush()
      st.stderr.flush()
      throw new InvalidModuleError(`starting it: ${describe(e, st.stderr)}`)
    }
    return { exports: instance.exports, st }
  }

  /** SDK-built modules (exporting _initialize) answer an empty batch;
   * one registering another hook or built for another ABI is refused at
   * load, as the broker refuses it at deploy. Traps are left to calls. */
  probe () {
    if (!this.sdk) return
    const empty = Buffer.alloc(HEADER_SIZE)
    empty.writeUInt32LE(ABI_VERSION, 0)
    empty.writeInt32LE(-1, 4)
    empty.writeInt32LE(1, 8)
    let out
    try {
      out = this.invoke(empty)
    } catch (e) {
      this.log('stderr', `probe call failed; loading the module anyway: ${e.message}`)
      this.inst = null
      return
    }
    const status = out.length >= 4 ? out.readUInt32LE(0) : -1
    if (status === STATUS_OK && out.length === 8 && out.readUInt32LE(4) === 0) return
    if ((status === STATUS_REJECTED || status === STATUS_POLICY) && out.length >= 8) {
      const msg = out.subarray(8, 8 + out.readUInt32LE(4)).toString('utf8')
      if (msg.includes('no partitioner registered')) {
        throw new InvalidModuleError(`the module registers no partitioner (${msg}): it is not a partitioner plugin`)
      }
      if (!msg.includes('abi') && !msg.includes('version')) return
    }
    throw new InvalidModuleError(`its answer to an empty batch is not ABI v${ABI_VERSION}: rebuild it with the current SDK`)
  }

  /** invoke runs sluice_partition on an Input and returns a copy of the
   * Output. */
  invoke (input) {
    const { exports, st } = this.inst
    const ptr = exports.sluice_alloc(input.length) >>> 0
    let mem = new Uint8Array(st.memory.buffer)
    if (ptr + input.length > mem.length) {
      throw new Error(`sluice_alloc returned a buffer outside guest memory (${ptr}+${input.length})`)
    }
    mem.set(input, ptr)
    const res = BigInt.asUintN(64, BigInt(exports.sluice_partition(ptr, input.length)))
    const outPtr = Number(res >> 32n)
    const outLen = Number(res & 0xffffffffn)
    mem = new Uint8Array(st.memory.buffer) // it may have grown
    if (outPtr + outLen > mem.length) {
      throw new Error(`answer at ${outPtr}+${outLen} lies outside guest memory`)
    }
    return Buffer.from(mem.slice(outPtr, outPtr + outLen))
  }

  /**
   * partition runs the plugin on one record of topic and returns the
   * partition it chose; it throws a PartitionerError when the plugin
   * fails or refuses the record.
   * @param {string} topic
   * @param {{key?: any, value?: any, headers?: object, timestamp?: string|number}} record
   * @param {number} numPartitions
   */
  partition (topic, record, numPartitions) {
    if (!Number.isInteger(numPartitions) || numPartitions <= 0 || numPartitions > 0x7fffffff) {
      throw new PartitionerError(`sluice partitioner: topic "${topic}" has ${numPartitions} partitions`, { topic })
    }
    if (this.inst === null) {
      try {
        this.inst = this.newInstance()
      } catch (e) {
        throw new PartitionerError(`sluice partitioner failed on a record of topic "${topic}": ${e.message}`, { topic, cause: e })
      }
    }
    const input = encodeInput(topic, numPartitions, record)
    const { st } = this.inst
    st.stderr.panicLine = ''
    let out
    try {
      out = this.invoke(input)
    } catch (e) {
      st.stdout.flush()
      st.stderr.flush()
      const detail = describe(e, st.stderr)
      this.inst = null
      throw new PartitionerError(`sluice partitioner failed on a record of topic "${topic}": ${detail}`, { topic, cause: e })
    }
    if (st.memory.buffer.byteLength > this.memoryLimit + PAGE) {
      this.inst = null
      throw new PartitionerError(`sluice partitioner failed on a record of topic "${topic}": memory limit of ${this.memoryLimit / (1 << 20)} MiB exceeded (${st.memory.buffer.byteLength} bytes)`, { topic })
    }
    st.stdout.flush()
    st.stderr.flush()
    try {
      return decodeOutput(out, numPartitions)
    } catch (e) {
      if (e instanceof PartitionerError) {
        e.topic = topic
        e.message = `sluice partitioner refused a record of topic "${topic}": ${e.message}`
        throw e
      }
      this.inst = null
      throw new PartitionerError(`sluice partitioner failed on a record of topic "${topic}": malformed answer: ${e.message}`, { topic, cause: e })
    }
  }
}

// describe names a failed call: the plugin's own panic line first (Go
// prints it before the stack trace), then the trap or exit.
function describe (e, stderr) {
  let detail
  if (e instanceof PluginExit) {
    detail = e.message
  } else if (e instanceof WebAssembly.RuntimeError) {
    // The innermost wasm frame names where it trapped (runtime.abort
    // for a Go panic).
    const frame = /at (\S+) \(wasm:/.exec(e.stack || '')
    detail = `trap: ${e.message}${frame ? ` in ${frame[1]}` : ''}`
  } else {
    detail = String(e && e.message ? e.message : e)
  }
  if (stderr.panicLine !== '') detail = `${stderr.panicLine}; ${detail}`
  return detail
}

// configGet implements sluice.config_get(keyPtr, keyLen, bufPtr, bufCap)
// -> length, or -1 when the key is unset; nothing is copied when the
// value is longer than bufCap; out-of-bounds pointers read as unset.
function configGet (memory, config, keyPtr, keyLen, bufPtr, bufCap) {
  const mem = new Uint8Array(memory.buffer)
  if (keyPtr + keyLen > mem.length) return -1
  const key = Buffer.from(mem.subarray(keyPtr, keyPtr + keyLen)).toString('utf8')
  const v = config.get(key)
  if (v === undefined) return -1
  if (v.length <= bufCap) {
    if (bufPtr + v.length > mem.length) return -1
    mem.set(v, bufPtr)
  }
  return v.length
}

/**
 * createPartitioner loads a Sluice partitioner plugin and returns a
 * kafkajs partitioner factory:
 *
 *   const { createPartitioner } = require('@sluicemq/kafkajs-partitioner')
 *   const producer = kafka.producer({
 *     createPartitioner: createPartitioner({ wasm: 'pageview-partitioner.wasm', config: { field: 'user_id' } })
 *   })
 *
 * The module is compiled and checked here (an InvalidModuleError for a
 * module the broker would refuse); each producer gets its own instance.
 * A record the plugin fails on makes producer.send() reject with a
 * PartitionerError (not retried); no message of that send is sent.
 * @param {{wasm: string|URL|Uint8Array|ArrayBuffer|WebAssembly.Module, config?: Record<string,string>, memoryLimitBytes?: number, log?: (stream: string, line: string) => void}} options
 */
function createPartitioner (options) {
  if (!options || options.wasm === undefined) {
    throw new TypeError('sluice partitioner: createPartitioner({ wasm, config }) needs `wasm`')
  }
  const opts = { config: options.config, memoryLimitBytes: options.memoryLimitBytes, log: options.log }
  const first = new WasmPartitioner(options.wasm, opts)
  let unused = first
  return () => {
    const p = unused || new WasmPartitioner(first.module, opts)
    unused = null
    return ({ topic, partitionMetadata, message }) => p.partition(topic, {
      key: message.key,
      value: message.value,
      headers: message.headers,
      // kafkajs stamps a message without a timestamp with Date.now()
      // when it sends it; the plugin sees about the same.
      timestamp: message.timestamp !== undefined && message.timestamp !== null ? Number(message.timestamp) : Date.now()
    }, partitionMetadata.length)
  }
}

module.exports = {
  createPartitioner,
  WasmPartitioner,
  PartitionerError,
  InvalidModuleError,
  encodeInput,
  ABI_VERSION
}
