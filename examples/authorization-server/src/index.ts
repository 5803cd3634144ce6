export {
  createAuthorizationServer,
  start,
  type AuthorizationServer,
  type RunningAuthorizationServer,
} from './app.js';
export { CLIENT_IDS } from './clients.js';
export {
  ConfigurationError,
  DEFAULT_DATA_DIR,
  DEV_ONLY_SECRETS,
  loadConfig,
  type AuthorizationServerConfig,
} from './config.js';
export {
  BACKEND_SERVICES_KEY_FILE,
  loadOrCreateKeys,
  SIGNING_KEYS_FILE,
  type KeyMaterial,
  type PrivateJwk,
} from './keys.js';
export type { OidcProvider } from './oidc-provider.js';
export {
  connectAdapterClient,
  DEFAULT_ADAPTER_PREFIX,
  redisAdapter,
  type AdapterPayload,
  type OidcAdapter,
  type RedisAdapterClient,
} from './redis-adapter.js';
export { CLIENT_ACCESS, RESOURCE_SERVERS, type ResourceServerName } from './resource-servers.js';
export { patientFor } from './smart-context.js';
export {
  runSmartAuthorizationCodeFlow,
  type SmartLaunchOptions,
  type SmartLaunchResult,
} from './smart-launch.js';
