/**
 * `@bearer-guard/otel`: OpenTelemetry metrics and spans for bearer-guard, from the
 * `diagnostics_channel` channels of `@bearer-guard/core` and `@bearer-guard/client`. Depends on
 * `@opentelemetry/api` only.
 */
export {
  BearerGuardInstrumentation,
  INSTRUMENTATION_NAME,
  INSTRUMENTATION_VERSION,
  type BearerGuardInstrumentationConfig,
} from './instrumentation.js';
export { ATTRIBUTES, CHANNEL_NAMES, METRICS } from './names.js';
