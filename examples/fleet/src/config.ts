import { fileURLToPath } from 'node:url';

/** The four services, in start order: the authorization server first, the gateway last. */
export const SERVICES = ['authorization-server', 'orders-service', 'fhir-service', 'gateway'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Default ports: the one place they are set for the fleet. Each is overridable by its variable. */
export const DEFAULT_PORTS: Record<ServiceName, { variable: string; port: number }> = {
  'authorization-server': { variable: 'AS_PORT', port: 4000 },
  gateway: { variable: 'GATEWAY_PORT', port: 4100 },
  'orders-service': { variable: 'ORDERS_PORT', port: 4200 },
  'fhir-service': { variable: 'FHIR_PORT', port: 4300 },
};

/** Resource identifiers (RFC 8707): each backend its own audience. */
export const AUDIENCES = {
  gateway: 'https://gateway.fleet.example',
  orders: 'https://orders.fleet.example',
  fhir: 'https://fhir.fleet.example/r4',
} as const;

/**
 * The development-only secrets each service falls back to when its variable is unset (named so in
 * the README). The fleet never passes them on itself: every service takes its own default, and
 * refuses it when `NODE_ENV=production`.
 */
export const DEV_SECRETS = {
  GATEWAY_CLIENT_SECRET: 'dev-only-gateway-secret-do-not-deploy',
  FHIR_INTROSPECTION_SECRET: 'dev-only-fhir-introspection-secret-do-not-deploy',
  DEMO_CLIENT_SECRET: 'dev-only-demo-client-secret-do-not-deploy',
  ORDERS_DPOP_NONCE_SECRET: 'dev-only-orders-dpop-nonce-secret-do-not-deploy',
} as const;

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The one address every service of `npm start` listens on. */
export const FLEET_HOST = '127.0.0.1';

/** A variable `npm start` cannot honour. The message starts with the variable's name. */
export class FleetConfigError extends TypeError {
  override readonly name = 'FleetConfigError';
  readonly code = 'ERR_FLEET_CONFIG';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable} ${message}`);
  }
}

function port(name: ServiceName, env: NodeJS.ProcessEnv): number {
  const { variable, port: fallback } = DEFAULT_PORTS[name];
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  // Port 0 is refused: the others must be told where each service is before it starts.
  if (!Number.isInteger(value) || value < 1 || value > 65_535) {
    throw new FleetConfigError(
      variable,
      `must be a port number from 1 to 65535 (npm start needs fixed ports); got ${JSON.stringify(raw)}.`,
    );
  }
  return value;
}

export type Ports = Record<ServiceName, number>;

/** Ports from the environment, defaults otherwise; a wrong value, or one port twice, names its variable. */
export function portsFromEnv(env: NodeJS.ProcessEnv = process.env): Ports {
  const ports: Ports = {
    'authorization-server': port('authorization-server', env),
    gateway: port('gateway', env),
    'orders-service': port('orders-service', env),
    'fhir-service': port('fhir-service', env),
  };
  const seen = new Map<number, ServiceName>();
  for (const name of SERVICES) {
    const other = seen.get(ports[name]);
    if (other !== undefined) {
      throw new FleetConfigError(
        DEFAULT_PORTS[name].variable,
        `is ${String(ports[name])}, the port of ${other} (${DEFAULT_PORTS[other].variable}) too; each service needs its own.`,
      );
    }
    seen.set(ports[name], name);
  }
  return ports;
}

/** `http://127.0.0.1:<port>` of a service of the fleet. */
export function serviceUrl(ports: Ports, name: ServiceName): string {
  return `http://${FLEET_HOST}:${String(ports[name])}`;
}

/**
 * The issuer identifier: `AS_ISSUER` when set, `http://127.0.0.1:<AS_PORT>` otherwise. `npm start`
 * serves the authorization server over plain http on 127.0.0.1, so an `AS_ISSUER` that would not
 * reach it there (another host, https, another port, a path) is refused rather than ignored: every
 * service discovers the issuer's keys from this URL and compares it with each token's `iss`.
 */
export function issuerFromEnv(ports: Ports, env: NodeJS.ProcessEnv = process.env): string {
  const fallback = serviceUrl(ports, 'authorization-server');
  const raw = env['AS_ISSUER']?.trim();
  if (raw === undefined || raw === '') return fallback;
  const url = URL.parse(raw);
  const reaches =
    url !== null &&
    url.protocol === 'http:' &&
    (url.hostname === FLEET_HOST || url.hostname === 'localhost') &&
    url.port === String(ports['authorization-server']) &&
    url.origin === raw;
  if (!reaches) {
    throw new FleetConfigError(
      'AS_ISSUER',
      `must reach the authorization server npm start runs on ${fallback}: http://127.0.0.1:${String(ports['authorization-server'])} or http://localhost:${String(ports['authorization-server'])} (set AS_PORT for another port; no path or trailing slash); got ${JSON.stringify(raw)}. To use another authorization server, run the services alone (see their READMEs).`,
    );
  }
  return raw;
}

/** `ORDERS_URL` / `FHIR_URL` when set (the gateway checks them), else the fleet's own service. */
function backendUrl(variable: string, ports: Ports, name: ServiceName, env: NodeJS.ProcessEnv): string {
  const raw = env[variable];
  return raw === undefined || raw.trim() === '' ? serviceUrl(ports, name) : raw;
}

/**
 * The environment of each service: the parent environment, so the variables a service reads itself
 * (secrets, `AS_DATA_DIR`, `ACCESS_TOKEN_TTL`, `BACKEND_TIMEOUT_MS`, `RATE_LIMIT_PER_MINUTE`, …)
 * reach it unchanged, with the fleet's own on top: where each service listens, and where the
 * others are. The secrets are not filled in here: each service takes its own development default,
 * and refuses it when `NODE_ENV=production`.
 *
 * @throws {FleetConfigError} for an `AS_ISSUER` the fleet cannot serve.
 */
export function serviceEnvironments(
  ports: Ports,
  env: NodeJS.ProcessEnv = process.env,
): Record<ServiceName, NodeJS.ProcessEnv> {
  const shared = {
    ...env,
    AS_ISSUER: issuerFromEnv(ports, env),
    GATEWAY_AUDIENCE: env['GATEWAY_AUDIENCE'] ?? AUDIENCES.gateway,
    ORDERS_AUDIENCE: env['ORDERS_AUDIENCE'] ?? AUDIENCES.orders,
    FHIR_AUDIENCE: env['FHIR_AUDIENCE'] ?? AUDIENCES.fhir,
  };
  return {
    'authorization-server': {
      ...shared,
      AS_HOST: FLEET_HOST,
      AS_PORT: String(ports['authorization-server']),
    },
    'orders-service': {
      ...shared,
      ORDERS_HOST: FLEET_HOST,
      ORDERS_PORT: String(ports['orders-service']),
      ORDERS_PUBLIC_URL: serviceUrl(ports, 'orders-service'),
    },
    'fhir-service': {
      ...shared,
      FHIR_HOST: FLEET_HOST,
      FHIR_PORT: String(ports['fhir-service']),
      FHIR_BASE_URL: serviceUrl(ports, 'fhir-service'),
    },
    gateway: {
      ...shared,
      GATEWAY_HOST: FLEET_HOST,
      GATEWAY_PORT: String(ports.gateway),
      ORDERS_URL: backendUrl('ORDERS_URL', ports, 'orders-service', env),
      FHIR_URL: backendUrl('FHIR_URL', ports, 'fhir-service', env),
    },
  };
}
