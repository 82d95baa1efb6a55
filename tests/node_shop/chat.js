// A chat server on socket.io, instrumented by @opentelemetry/instrumentation-socket.io,
// exporting OTLP/HTTP protobuf, and its browser-like clients (socket.io-client, which no
// instrumentation traces), for tests/test_real_broker.py.
//
//   node chat.js SERVICE CLIENTS MESSAGES   serve on a free port; CLIENTS clients connect
//                                           to '/chat', join "room-42" and post MESSAGES
//                                           messages each, which the server stores and
//                                           broadcasts to the room; then stop
//
// Environment: OTLP_HTTP.
'use strict';

const http = require('http');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { SocketIoInstrumentation } = require('@opentelemetry/instrumentation-socket.io');
const { trace } = require('@opentelemetry/api');
const { run, tracing } = require('./shop');

async function main([service, clients, messages]) {
  const provider = tracing(service);
  // (before socket.io is required: the instrumentation patches the module as it loads)
  registerInstrumentations({ instrumentations: [new SocketIoInstrumentation()] });
  const { Server } = require('socket.io');
  const { io: connect } = require('socket.io-client');
  const tracer = trace.getTracer('node-shop');
  const server = http.createServer();
  const io = new Server(server);
  const total = Number(clients) * Number(messages);
  let got = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  io.of('/chat').on('connection', (socket) => {
    socket.emit('welcome', { id: socket.id });
    socket.on('join', (room) => socket.join(room));
    socket.on('chat:message', async (text) => {
      await tracer.startActiveSpan('store message', async (span) => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        span.end();
      });
      io.of('/chat').to('room-42').emit('chat:message', text);
      if (++got === total) finish();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/chat`;
  const sockets = [];
  try {
    for (let c = 0; c < Number(clients); c++) {
      const s = connect(url, { transports: ['websocket'] });
      sockets.push(s);
      await new Promise((resolve) => s.on('welcome', resolve));
      s.emit('join', 'room-42');
    }
    for (let m = 0; m < Number(messages); m++) {
      for (const [c, s] of sockets.entries()) s.emit('chat:message', `hello ${c}.${m}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const timer = setTimeout(() => finish(), 20000);
    await finished;
    clearTimeout(timer);
    if (got < total) throw new Error(`the server got ${got} of ${total} messages`);
  } finally {
    for (const s of sockets) s.close();
    io.close();
    await provider.shutdown();
  }
}

run(main);
