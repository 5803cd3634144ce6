// `node dist/main.js`: read the environment, start, stop on SIGINT/SIGTERM. A bad variable exits 1
// with a message naming it.
import { start, type RunningAuthorizationServer } from './app.js';
import {
  ConfigurationError,
  devOnlySecretsInUse,
  loadConfig,
  type AuthorizationServerConfig,
} from './config.js';

// oidc-provider warns "Unsupported runtime" when it is imported on a Node.js release line older
// than 22 (it checks `process.release.lts`); it runs and passes this repository's tests on Node 20.
if (Number(process.versions.node.split('.')[0]) < 22) {
  console.warn(
    `authorization-server: oidc-provider's "Unsupported runtime" warning is expected on Node ${process.versions.node}: this example is tested on Node 20.19+ (see the README).`,
  );
}

let config: AuthorizationServerConfig;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigurationError)) throw error;
  console.error(`authorization-server: ${error.message}`);
  process.exit(1);
}

const devSecrets = devOnlySecretsInUse(config);
if (devSecrets.length > 0) {
  console.warn(`authorization-server: using the published dev-only default for ${devSecrets.join(', ')}`);
}

let running: RunningAuthorizationServer;
try {
  running = await start(config);
} catch (error) {
  // e.g. EADDRINUSE, or a key file in AS_DATA_DIR that is corrupt or readable by others
  console.error(
    `authorization-server: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
}
console.log(`authorization-server: issuer ${running.issuer}, listening on ${running.url}`);
console.log(`  discovery: ${running.issuer}/.well-known/openid-configuration`);
console.log(`  data dir:  ${config.dataDir}`);
console.log(
  running.storage === 'redis'
    ? '  storage:   Redis (REDIS_URL): grants, tokens and revocations shared by every process on it, kept across restarts'
    : '  storage:   in memory (this process only; set REDIS_URL to share and keep grants)',
);

let stopping = false;
const stop = (signal: NodeJS.Signals | 'launcher gone'): void => {
  if (stopping) return;
  stopping = true;
  console.log(`authorization-server: ${signal}, stopping`);
  running.close().catch((error: unknown) => {
    console.error('authorization-server: failed to stop cleanly:', error);
    process.exitCode = 1;
  });
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

// As examples/shared `reportToLauncher`: tell `npm start` (which started this process with an IPC
// channel) where it listens, its proof that the health answers come from this process, and stop
// when the launcher goes away so nothing is left holding the port.
if (process.send !== undefined) {
  process.send({ type: 'listening', url: running.url });
  process.once('disconnect', () => {
    stop('launcher gone');
  });
  process.channel?.unref();
}
