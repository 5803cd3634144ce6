export { createApp } from './app.js';
export type { FhirApp, FhirAppOptions } from './app.js';
export { MetadataUnavailableError } from './authorization-server-metadata.js';
export type { AuthorizationServerMetadata } from './authorization-server-metadata.js';
export {
  DEV_INTROSPECTION_CACHE_KEY,
  DEV_INTROSPECTION_SECRET,
  FhirConfigError,
  loadFhirConfig,
} from './config.js';
export type { FhirConfig } from './config.js';
export type { Observation, Patient } from './fhir-data.js';
export { FHIR_JSON } from './operation-outcome.js';
export type { IssueType, OperationOutcome } from './operation-outcome.js';
export { start } from './server.js';
export type { RunningFhirService } from './server.js';
