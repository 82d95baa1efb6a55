// Jobs on a real Redis through BullMQ, traced by BullMQ's own telemetry (bullmq-otel), the
// OpenTelemetry JS SDK exporting OTLP/HTTP protobuf, for tests/test_real_broker.py.
//
//   node bull.js add SERVICE N              N "welcome" jobs on the queue "emails", each
//                                           added inside a request's SERVER span
//   node bull.js work SERVICE N [NEXT]      process N jobs of "emails", each adding a
//                                           "send" job to the queue NEXT
//   node bull.js work-on QUEUE SERVICE N    process N jobs of QUEUE
//   node bull.js flow SERVICE N             N flows (FlowProducer), each an "assemble" job on
//                                           "orders" waiting for its children, a "charge"
//                                           job on "payments" and a "reserve" job on "stock"
//
// Environment: REDIS_PORT (on 127.0.0.1), OTLP_HTTP.
'use strict';

const { trace, SpanKind } = require('@opentelemetry/api');
const { run, tracing } = require('./shop');

async function main([role, ...args]) {
  const [queueName, service, n, next] = role === 'work-on' ? args : ['emails', ...args];
  const provider = tracing(service);
  const { Queue, Worker, FlowProducer } = require('bullmq');
  const { BullMQOtel } = require('bullmq-otel');
  const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT) };
  const telemetry = new BullMQOtel({ tracerName: service });
  const count = Number(n);
  try {
    if (role === 'add') {
      const tracer = trace.getTracer('node-shop');
      const queue = new Queue(queueName, { connection, telemetry });
      for (let i = 0; i < count; i++) {
        await tracer.startActiveSpan('POST /signup', { kind: SpanKind.SERVER }, async (span) => {
          await queue.add('welcome', { user: i });
          span.end();
        });
      }
      await queue.close();
    } else if (role === 'flow') {
      const tracer = trace.getTracer('node-shop');
      const flows = new FlowProducer({ connection, telemetry });
      for (let i = 0; i < count; i++) {
        await tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
          await flows.add({
            name: 'assemble', queueName: 'orders', data: { order: i },
            children: [{ name: 'charge', queueName: 'payments', data: { order: i } },
                       { name: 'reserve', queueName: 'stock', data: { order: i } }],
          });
          span.end();
        });
      }
      await flows.close();
    } else if (role === 'work' || role === 'work-on') {
      const out = next ? new Queue(next, { connection, telemetry }) : null;
      let done = 0;
      let finished;
      const all = new Promise((resolve) => { finished = resolve; });
      const worker = new Worker(queueName, async (job) => {
        if (out) await out.add('send', { user: job.data.user });
        return 'ok';
      }, { connection, telemetry });
      worker.on('completed', () => { if (++done === count) finished(); });
      await all;
      await worker.close();
      if (out) await out.close();
    } else {
      throw new Error(`unknown role ${role}`);
    }
  } finally {
    await provider.shutdown();
  }
}

run(main);
