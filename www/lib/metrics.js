// The demo's OpenTelemetry SDK: the broker's metrics (`telemetry` option) read by the
// OpenTelemetry Prometheus exporter and served at `GET /metrics` on the demo's own port, so
// that `npm start` shows what an operator would scrape. The SDK lives here and in tests
// only: the shipped broker talks to `@opentelemetry/api` and never bundles an SDK.
import * as api from "@opentelemetry/api";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";

/**
 * A meter provider whose one reader is a Prometheus exporter that opens no port of its own
 * (`preventServerStart`): the demo server hands it `GET /metrics`.
 * @returns {{ telemetry: object, handle(req, res): void, close(): Promise<void> }}
 *   `telemetry`: the broker's option (`api` passed, so the broker need not import it by name)
 */
export function demoMetrics() {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  return {
    telemetry: { api, meterProvider },
    // Collects on every scrape; answers 200 text/plain in the Prometheus text format.
    handle: (req, res) => exporter.getMetricsRequestHandler(req, res),
    close: () => meterProvider.shutdown(),
  };
}
