// Node.js services on a Kafka-protocol broker (Tansu, tests/brokers.py) through kafkajs,
// instrumented by @opentelemetry/instrumentation-kafkajs, exporting OTLP/HTTP protobuf, for
// tests/test_real_broker.py.
//
//   node kafka.js setup TOPIC...                     create the topics
//   node kafka.js produce SERVICE TOPIC N            N orders, each sent inside a request's
//                                                    span
//   node kafka.js work SERVICE TOPIC N [NEXT] [MODE] consume N messages in group SERVICE,
//                                                    each forwarded to NEXT ('-': none);
//                                                    MODE 'batch': eachBatch, else
//                                                    eachMessage
//
// Environment: KAFKA_PORT (the broker on 127.0.0.1), OTLP_HTTP.
'use strict';

const { trace, SpanKind } = require('@opentelemetry/api');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { KafkaJsInstrumentation } = require('@opentelemetry/instrumentation-kafkajs');
const { run, tracing } = require('./shop');

function client() {
  const { Kafka, logLevel } = require('kafkajs');
  return new Kafka({ clientId: 'node-shop', brokers: [`127.0.0.1:${process.env.KAFKA_PORT}`],
                     logLevel: logLevel.ERROR });
}

async function handle(service, value) {
  const tracer = trace.getTracer('node-shop');
  await tracer.startActiveSpan(`handle ${service}`, async (span) => {
    JSON.parse(value.toString());
    await new Promise((resolve) => setTimeout(resolve, 5));
    span.end();
  });
}

async function work(kafka, service, topic, n, next, mode) {
  const producer = next ? kafka.producer() : null;
  if (producer) await producer.connect();
  // Short group timings: the broker waits up to the rebalance timeout for members to join.
  const consumer = kafka.consumer({ groupId: service, sessionTimeout: 6000,
                                    rebalanceTimeout: 7000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  const one = async (message) => {
    await handle(service, message.value);
    if (producer) {
      await producer.send({ topic: next, messages: [{ key: message.key, value: message.value }] });
    }
    if (++done === n) finish();
  };
  if (mode === 'batch') {
    await consumer.run({ eachBatch: async ({ batch }) => {
      for (const message of batch.messages) await one(message);
    } });
  } else {
    await consumer.run({ eachMessage: async ({ message }) => one(message) });
  }
  const timer = setTimeout(() => { console.error(`${service}: only ${done} of ${n}`); finish(); },
                           60000);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  if (producer) await producer.disconnect();
  if (done < n) throw new Error(`${service} handled ${done} of ${n} messages`);
}

async function main([role, ...args]) {
  if (role === 'setup') {
    const admin = client().admin();
    await admin.connect();
    await admin.createTopics({ topics: args.map((topic) => ({ topic, numPartitions: 1 })) });
    await admin.disconnect();
    return;
  }
  const service = args.shift();
  const provider = tracing(service);
  // (before kafkajs is required: the instrumentation patches the module as it loads)
  registerInstrumentations({ instrumentations: [new KafkaJsInstrumentation()] });
  const kafka = client();
  const [topic, n] = [args[0], Number(args[1])];
  try {
    if (role === 'produce') {
      const producer = kafka.producer();
      await producer.connect();
      const tracer = trace.getTracer('node-shop');
      for (let i = 0; i < n; i++) {
        await tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
          await producer.send({ topic, messages: [{ key: `order-${i}`,
                                                    value: JSON.stringify({ order: i }) }] });
          span.end();
        });
      }
      await producer.disconnect();
    } else if (role === 'work') {
      const next = args[2] && args[2] !== '-' ? args[2] : null;
      await work(kafka, service, topic, n, next, args[3]);
    } else {
      throw new Error(`unknown role ${role}`);
    }
  } finally {
    await provider.shutdown();
  }
}

run(main);
