// The real OpenTelemetry SDK for the broker tests: a meter provider with a reader collected
// on demand, a tracer provider with an in-memory exporter, and the async-hooks context
// manager (so an upstream span finds its page request's span as parent).
import * as api from "@opentelemetry/api";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { TracerProvider, SimpleSpanProcessor, InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";

/** A reader the test collects from on demand. */
class Reader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

/** An SDK of the test's own (the API's globals untouched but the context manager). */
export function otelSdk(t) {
  const ctx = new AsyncLocalStorageContextManager().enable();
  api.context.setGlobalContextManager(ctx);
  const reader = new Reader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  t.after(async () => {
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
    api.context.disable();
  });
  return {
    meterProvider,
    tracerProvider,
        /** Finished spans, once the processor has handed them over (it exports asynchronously). */
    async spans() {
      await tracerProvider.forceFlush();
      return spans.getFinishedSpans();
    },
    /** name → [{ attributes, value }] (value: a sum, or a histogram's { count, sum }) */
    async metrics() {
      const { resourceMetrics } = await reader.collect();
      const out = {};
      for (const sm of resourceMetrics.scopeMetrics) {
        for (const m of sm.metrics) out[m.descriptor.name] = m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value }));
      }
      return out;
    },
  };
}

/** The sum of a counter's points whose attributes include `match`. */
export function sum(points = [], match = {}) {
  return points.filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v)).reduce((n, p) => n + (typeof p.value === "number" ? p.value : p.value.count), 0);
}
