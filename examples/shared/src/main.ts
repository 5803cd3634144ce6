import { ConfigError } from './env.js';
import { reportToLauncher } from './launcher.js';
import type { RunningServer } from './server.js';

/** What {@link runService} needs to know about a service. */
export interface ServiceMain<Config, Service extends RunningServer> {
  /** Reads the configuration; a {@link ConfigError} exits 1 with its message. */
  loadConfig: () => Config;
  /** Runs once the configuration is read, before `start` (e.g. to warn about dev-only defaults). */
  configured?: ((config: Config) => void) | undefined;
  start: (config: Config) => Promise<Service>;
  /** Prefix of the message when `start` rejects, e.g. `orders-service did not start`. */
  notStarted: string;
  /** The lines logged once the service listens. */
  started: (service: Service, config: Config) => string[];
}

/**
 * `node dist/main.js`: read the configuration (a wrong variable exits 1 with a message naming it),
 * start (a failure exits 1), then stop on SIGINT/SIGTERM (or when the launcher that started it goes
 * away, see {@link reportToLauncher}) and exit 0.
 */
export async function runService<Config, Service extends RunningServer>(
  main: ServiceMain<Config, Service>,
): Promise<void> {
  let config: Config;
  try {
    config = main.loadConfig();
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  }
  main.configured?.(config);

  const service = await main.start(config).catch((error: unknown) => {
    console.error(`${main.notStarted}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
  for (const line of main.started(service, config)) console.log(line);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void service.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  reportToLauncher(service.url, stop);
}
