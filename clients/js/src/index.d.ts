// Types of @sluicemq/kafkajs-partitioner (src/index.js).

/** A path (string or file URL), the module's bytes or a compiled module. */
export type WasmSource = string | URL | Uint8Array | ArrayBuffer | WebAssembly.Module

export interface PartitionerOptions {
  /** The plugin configuration: the same key=value pairs as the broker's deploy (`--config k=v`). */
  config?: Record<string, string>
  /** An instance whose memory grew past this fails its record and is replaced. Default 64 MiB. */
  memoryLimitBytes?: number
  /** Receives the plugin's stdout and stderr, one line per call. Default: process.stderr. */
  log?: (stream: 'stdout' | 'stderr', line: string) => void
}

/** A record as the plugin sees it (kafkajs message fields). */
export interface PartitionRecord {
  key?: Buffer | string | null
  value?: Buffer | string | null
  headers?: Record<string, Buffer | string | Array<Buffer | string> | undefined>
  /** Milliseconds since the epoch. */
  timestamp?: string | number
}

/** kafkajs's ICustomPartitioner: `producer({ createPartitioner: ... })`. */
export type KafkaJSPartitionerFactory = () => (args: {
  topic: string
  partitionMetadata: Array<{ partitionId: number }>
  message: PartitionRecord
}) => number

/** Loads a partitioner plugin and returns a kafkajs partitioner factory. */
export function createPartitioner (options: PartitionerOptions & { wasm: WasmSource }): KafkaJSPartitionerFactory

export class WasmPartitioner {
  constructor (wasm: WasmSource, options?: PartitionerOptions)
  readonly module: WebAssembly.Module
  /** The partition the plugin chooses; throws PartitionerError. */
  partition (topic: string, record: PartitionRecord, numPartitions: number): number
}

/** A record the plugin failed on or refused; kafkajs does not retry it. */
export class PartitionerError extends Error {
  readonly topic: string
  /** True for a refusal (ABI status 1 or 2), false for a failure. */
  readonly refused: boolean
  readonly retriable: false
}

/** The module cannot serve as a partitioner (thrown at load). */
export class InvalidModuleError extends Error {}

/** The ABI Input of one record for the partitioner (for conformance tests). */
export function encodeInput (topic: string, numPartitions: number, record: PartitionRecord): Buffer

export const ABI_VERSION: 2
