// Services on a real RabbitMQ through amqplib, instrumented by OpenTelemetry JS
// (@opentelemetry/instrumentation-amqplib), exporting OTLP/HTTP protobuf, for
// tests/test_real_broker.py: another language's SDK, a newer release of the messaging
// conventions than the Python contrib packages', and the collector's HTTP endpoint.
//
//   node shop.js setup                          exchange, queues, bindings
//   node shop.js produce SERVICE N              N orders to the topic exchange "orders"
//   node shop.js work SERVICE QUEUE N [NEXT]    consume N messages, each forwarded to the
//                                               queue NEXT (through the default exchange)
//
// Environment: AMQP_URL, OTLP_HTTP (the collector's base address), CONSUME_LINKS,
// NO_PROPAGATOR.
'use strict';

const { context, propagation, trace, SpanKind } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AmqplibInstrumentation } = require('@opentelemetry/instrumentation-amqplib');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { SimpleSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');

const EXCHANGE = 'orders';
const QUEUES = { billing: 'order.*', shipping: 'order.placed', emails: null };

function tracing(service) {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    // Exported span by span, as each ends.
    spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({
      url: `${process.env.OTLP_HTTP}/v1/traces` }) })],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  // NO_PROPAGATOR=1: the common misconfiguration of an SDK set up by hand without one, so
  // that nothing is injected into (or extracted from) the messages' headers.
  if (process.env.NO_PROPAGATOR !== '1') {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
  // Before amqplib is required: the instrumentation patches the module as it loads.
  // CONSUME_LINKS=1: each delivery starts a trace of its own, linked to its publish.
  registerInstrumentations({ instrumentations: [new AmqplibInstrumentation({
    useLinksForConsume: process.env.CONSUME_LINKS === '1' })] });
  return provider;
}

async function setup(amqp) {
  const conn = await amqp.connect(process.env.AMQP_URL);
  const ch = await conn.createChannel();
  await ch.assertExchange(EXCHANGE, 'topic');
  for (const [queue, key] of Object.entries(QUEUES)) {
    await ch.assertQueue(queue);
    if (key !== null) await ch.bindQueue(queue, EXCHANGE, key);
  }
  await conn.close();
}

async function produce(amqp, service, n) {
  const tracer = trace.getTracer('node-shop');
  const conn = await amqp.connect(process.env.AMQP_URL);
  const ch = await conn.createConfirmChannel();
  for (let i = 0; i < n; i++) {
    await tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
      ch.publish(EXCHANGE, 'order.placed', Buffer.from(JSON.stringify({ order: i })),
        { messageId: `${service}-${i}`, correlationId: `req-${i}` });
      await ch.waitForConfirms();
      span.end();
    });
  }
  await conn.close();
}

async function work(amqp, queue, n, next) {
  const tracer = trace.getTracer('node-shop');
  const conn = await amqp.connect(process.env.AMQP_URL);
  // (a confirm channel: a forwarded message is the broker's before its delivery is acked)
  const ch = await conn.createConfirmChannel();
  let done = 0;
  await new Promise((resolve, reject) => {
    ch.consume(queue, (msg) => {
      tracer.startActiveSpan(`handle ${queue}`, async (span) => {
        if (next) {
          ch.sendToQueue(next, msg.content,
            { messageId: `${msg.properties.messageId}-${next}`,
              correlationId: msg.properties.correlationId });
          await ch.waitForConfirms();
        }
        span.end();
        ch.ack(msg); // (the instrumentation ends the delivery's span here)
        if (++done === n) resolve();
      }).catch(reject);
    });
  });
  await conn.close();
}

async function main([role, service, ...rest]) {
  if (role === 'setup') {
    await setup(require('amqplib'));
    return;
  }
  const provider = tracing(service);
  const amqp = require('amqplib');
  try {
    if (role === 'produce') await produce(amqp, service, Number(rest[0]));
    else if (role === 'work') await work(amqp, rest[0], Number(rest[1]), rest[2]);
    else throw new Error(`unknown role ${role}`);
  } finally {
    await provider.shutdown(); // (exports what is still in flight)
  }
}

// Run a script's main with its command-line arguments; any error fails the process.
function run(entry) {
  entry(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

if (require.main === module) run(main);

module.exports = { run, tracing };
