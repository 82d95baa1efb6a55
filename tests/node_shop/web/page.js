// A web page's tracing, set up as a web app sets it up: OpenTelemetry JS's WebTracerProvider
// and its OTLP/HTTP exporter (JSON), posting from the page's origin to the collector's, so
// the browser asks the collector first (CORS). Bundled by esbuild for
// tests/test_browser_export.py; window.exportSpans(url, token) resolves to the exporter's
// result code (0 = SUCCESS, 1 = FAILED) and error, if any.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, WebTracerProvider } from '@opentelemetry/sdk-trace-web';

window.exportSpans = async (url, token) => {
  const memory = new InMemorySpanExporter();
  const provider = new WebTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'web-shop' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('web-shop-ui', '1.0.0');
  tracer.startActiveSpan('click checkout', { kind: SpanKind.INTERNAL }, (click) => {
    const call = tracer.startSpan('POST /orders', {
      kind: SpanKind.CLIENT,
      attributes: { 'http.request.method': 'POST', 'url.full': 'https://shop.example.com/orders' },
    });
    call.setStatus({ code: SpanStatusCode.OK });
    call.end();
    click.end();
  });
  // (an Authorization header makes the exporter use fetch/XHR, which the browser preflights)
  const exporter = new OTLPTraceExporter({
    url, headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const result = await new Promise((resolve) => exporter.export(memory.getFinishedSpans(), resolve));
  await exporter.shutdown();
  return { code: result.code, error: result.error ? String(result.error) : null };
};
