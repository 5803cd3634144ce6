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

/** Development-only secrets, used when the environment gives none (named so in the README). */
export const DEV_SECRETS = {
  GATEWAY_CLIENT_SECRET: 'dev-only-gateway-secret-do-not-deploy',
  FHIR_INTROSPECTION_SECRET: 'dev-only-fhir-introspection-secret-do-not-deploy',
  DEMO_CLIENT_SECRET: 'dev-only-demo-client-secret-do-not-deploy',
} as const;

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function port(name: ServiceName, env: NodeJS.ProcessEnv): number {
  const { variable, port: fallback } = DEFAULT_PORTS[name];
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    throw new Error(`${variable} must be a port number from 0 to 65535; got ${JSON.stringify(raw)}.`);
  }
  return value;
}

export type Ports = Record<ServiceName, number>;

/** Ports from the environment, defaults otherwise; a wrong value names its variable. */
export function portsFromEnv(env: NodeJS.ProcessEnv = process.env): Ports {
  return {
    'authorization-server': port('authorization-server', env),
    gateway: port('gateway', env),
    'orders-service': port('orders-service', env),
    'fhir-service': port('fhir-service', env),
  };
}

const secret = (env: NodeJS.ProcessEnv, name: keyof typeof DEV_SECRETS): string =>
  env[name] ?? DEV_SECRETS[name];

/** The environment of each service, derived from the ports and the parent environment. */
export function serviceEnvironments(
  ports: Ports,
  env: NodeJS.ProcessEnv = process.env,
): Record<ServiceName, NodeJS.ProcessEnv> {
  const host = '127.0.0.1';
  const url = (name: ServiceName): string => `http://${host}:${String(ports[name])}`;
  const issuer = url('authorization-server');
  const shared = {
    AS_ISSUER: issuer,
    GATEWAY_AUDIENCE: env['GATEWAY_AUDIENCE'] ?? AUDIENCES.gateway,
    ORDERS_AUDIENCE: env['ORDERS_AUDIENCE'] ?? AUDIENCES.orders,
    FHIR_AUDIENCE: env['FHIR_AUDIENCE'] ?? AUDIENCES.fhir,
    GATEWAY_CLIENT_SECRET: secret(env, 'GATEWAY_CLIENT_SECRET'),
    FHIR_INTROSPECTION_SECRET: secret(env, 'FHIR_INTROSPECTION_SECRET'),
    DEMO_CLIENT_SECRET: secret(env, 'DEMO_CLIENT_SECRET'),
  };
  return {
    'authorization-server': {
      ...shared,
      AS_HOST: host,
      AS_PORT: String(ports['authorization-server']),
      ...(env['AS_DATA_DIR'] === undefined ? {} : { AS_DATA_DIR: env['AS_DATA_DIR'] }),
    },
    'orders-service': { ...shared, ORDERS_HOST: host, ORDERS_PORT: String(ports['orders-service']) },
    'fhir-service': {
      ...shared,
      FHIR_HOST: host,
      FHIR_PORT: String(ports['fhir-service']),
      FHIR_BASE_URL: url('fhir-service'),
    },
    gateway: {
      ...shared,
      GATEWAY_HOST: host,
      GATEWAY_PORT: String(ports.gateway),
      ORDERS_URL: url('orders-service'),
      FHIR_URL: url('fhir-service'),
    },
  };
}
