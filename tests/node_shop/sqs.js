// Node.js services on Amazon SQS's API, served by moto's server on loopback, through the
// AWS SDK for JavaScript v3, instrumented by @opentelemetry/instrumentation-aws-sdk,
// exporting OTLP/HTTP protobuf, for tests/test_real_broker.py.
//
//   node sqs.js setup QUEUE                 create the queue
//   node sqs.js send SERVICE QUEUE N        N orders, each sent inside a request's span
//   node sqs.js receive SERVICE QUEUE N MAX poll, MAX messages at most a call, until N
//                                           messages were handled
//   node sqs.js sns-setup TOPIC RAW QUEUE...  an SNS topic and the queues subscribed to
//                                           it, with raw message delivery if RAW is 'raw'
//   node sqs.js publish SERVICE TOPIC N     N orders published to the SNS topic, each
//                                           inside a request's span
//
// Environment: SQS_ENDPOINT (moto's address), OTLP_HTTP, SQS_FROM_PAYLOAD ('1': the
// instrumentation reads a message's context from an SNS envelope in its body).
'use strict';

const { trace, SpanKind } = require('@opentelemetry/api');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk');
const { run, tracing } = require('./shop');

async function main([role, ...args]) {
  const service = role === 'setup' || role === 'sns-setup' ? null : args.shift();
  const provider = service ? tracing(service) : null;
  if (provider) {
    registerInstrumentations({ instrumentations: [new AwsInstrumentation({
      sqsExtractContextPropagationFromPayload: process.env.SQS_FROM_PAYLOAD === '1' })] });
  }
  const sqs = require('@aws-sdk/client-sqs');
  const sns = require('@aws-sdk/client-sns');
  const where = {
    endpoint: process.env.SQS_ENDPOINT, region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const client = new sqs.SQSClient(where);
  const [queue, n, max] = [args[0], Number(args[1]), Number(args[2] || 10)];
  try {
    if (role === 'setup') {
      await client.send(new sqs.CreateQueueCommand({ QueueName: queue }));
      return;
    }
    if (role === 'sns-setup') {
      const topics = new sns.SNSClient(where);
      const { TopicArn } = await topics.send(new sns.CreateTopicCommand({ Name: args[0] }));
      for (const name of args.slice(2)) {
        const { QueueUrl } = await client.send(new sqs.CreateQueueCommand({ QueueName: name }));
        const { Attributes } = await client.send(new sqs.GetQueueAttributesCommand({
          QueueUrl, AttributeNames: ['QueueArn'] }));
        await topics.send(new sns.SubscribeCommand({
          TopicArn, Protocol: 'sqs', Endpoint: Attributes.QueueArn,
          Attributes: { RawMessageDelivery: args[1] === 'raw' ? 'true' : 'false' } }));
      }
      return;
    }
    if (role === 'publish') {
      const topics = new sns.SNSClient(where);
      const { TopicArn } = await topics.send(new sns.CreateTopicCommand({ Name: args[0] }));
      const tracer = trace.getTracer('node-shop');
      for (let i = 0; i < n; i++) {
        await tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
          await topics.send(new sns.PublishCommand({
            TopicArn, Message: JSON.stringify({ order: i }) }));
          span.end();
        });
      }
      return;
    }
    const { QueueUrl } = await client.send(new sqs.GetQueueUrlCommand({ QueueName: queue }));
    const tracer = trace.getTracer('node-shop');
    if (role === 'send') {
      for (let i = 0; i < n; i++) {
        await tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
          await client.send(new sqs.SendMessageCommand({
            QueueUrl, MessageBody: JSON.stringify({ order: i }) }));
          span.end();
        });
      }
    } else if (role === 'receive') {
      let done = 0;
      while (done < n) {
        const out = await client.send(new sqs.ReceiveMessageCommand({
          QueueUrl, MaxNumberOfMessages: max, WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'] }));
        for (const msg of out.Messages ?? []) {
          tracer.startActiveSpan('ship order', (span) => span.end());
          await client.send(new sqs.DeleteMessageCommand({
            QueueUrl, ReceiptHandle: msg.ReceiptHandle }));
          done++;
        }
      }
    } else {
      throw new Error(`unknown role ${role}`);
    }
  } finally {
    if (provider) await provider.shutdown();
  }
}

run(main);
