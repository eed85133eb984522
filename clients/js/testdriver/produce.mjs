// Produces with kafkajs through createPartitioner, for the Go end-to-end
// test (clients/js/js_test.go). Environment: BROKERS, TOPIC, WASM, N,
// CONFIG (JSON object), and for the failure case FAIL_TOPIC and FAIL_WASM
// (a partitioner that panics on the key "boom"). Prints one JSON line:
// {"sent": N, "failure": "the failed send's error"}.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Kafka, logLevel } = require('kafkajs')
const { createPartitioner } = require('../src/index.js')

const env = process.env
const kafka = new Kafka({ clientId: 'sluice-js-test', brokers: env.BROKERS.split(','), logLevel: logLevel.NOTHING })
const producer = kafka.producer({
  allowAutoTopicCreation: false,
  createPartitioner: createPartitioner({ wasm: env.WASM, config: JSON.parse(env.CONFIG || '{}') })
})
await producer.connect()
const n = Number(env.N)
const result = { sent: 0 }
for (let start = 0; start < n; start += 500) {
  const messages = []
  for (let i = start; i < Math.min(n, start + 500); i++) {
    const m = { value: i % 3 === 0 ? `{"user_id":"u${i % 97}","i":${i}}` : `{"page":"/p/${i}","i":${i}}` }
    if (i % 5 !== 4) m.key = `user-${i}`
    if (i % 7 === 0) m.headers = { source: 'web', 'trace-id': Buffer.from(`t${i}`) }
    messages.push(m)
  }
  await producer.send({ topic: env.TOPIC, acks: -1, messages })
  result.sent += messages.length
}
await producer.disconnect()

if (env.FAIL_TOPIC) {
  const failing = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: createPartitioner({ wasm: env.FAIL_WASM, log: () => {} }) })
  await failing.connect()
  try {
    await failing.send({ topic: env.FAIL_TOPIC, messages: [{ key: 'fine', value: 'a' }, { key: 'boom', value: 'b' }] })
    result.failure = 'none: the send succeeded'
  } catch (e) {
    result.failure = `${e.name}: ${e.message}`
  }
  // The same producer keeps working for records the plugin accepts.
  await failing.send({ topic: env.FAIL_TOPIC, messages: [{ key: 'fine', value: 'after' }] })
  await failing.disconnect()
}
process.stdout.write(JSON.stringify(result) + '\n')
