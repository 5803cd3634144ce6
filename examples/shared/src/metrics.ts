import { BearerGuardInstrumentation } from '@bearer-guard/otel';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { RequestHandler } from 'express';

let exporter: PrometheusExporter | undefined;

/**
 * `GET /metrics` in the Prometheus text format: bearer-guard's OpenTelemetry metrics
 * (`@bearer-guard/otel`) through the OpenTelemetry Prometheus exporter, served by the service's own
 * app rather than by the exporter's server on a second port. One meter provider per process: the
 * diagnostics channels are process-wide, and each service of the fleet is its own process.
 *
 * The metrics hold no token, subject or claim value, only outcomes, error codes and configured
 * issuers; a real deployment would still serve them on an internal port only.
 */
export function metricsHandler(): RequestHandler {
  if (exporter === undefined) {
    const created = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [created] });
    const instrumentation = new BearerGuardInstrumentation({ enabled: false });
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
    exporter = created;
  }
  const current = exporter;
  return (req, res) => {
    current.getMetricsRequestHandler(req, res);
  };
}
