import { createTokenClient } from '@bearer-guard/client';
import { AUDIENCES, DEV_SECRETS, issuerFromEnv, portsFromEnv, serviceUrl } from './config.js';
import { runReplicaSteps } from './demo-replicas.js';
import { redisUrlFromEnv, replicaPortsFromEnv } from './replicas.js';

// `npm run demo` (with `npm start` running): the demo client gets a token and calls the gateway,
// then three refusals. Tokens come from @bearer-guard/client, never a hand-written token request.
// It reads the variables `npm start` reads, so it finds a fleet started with other ports or issuer;
// with REDIS_URL (the fleet's replicas), it goes on with what the replicas share (demo-replicas.ts).
const ports = portsFromEnv();
const issuer = issuerFromEnv(ports);
const gateway = serviceUrl(ports, 'gateway');
const orders = serviceUrl(ports, 'orders-service');
const demo = createTokenClient({
  issuer,
  clientId: 'demo-client',
  clientSecret: process.env['DEMO_CLIENT_SECRET'] ?? DEV_SECRETS.DEMO_CLIENT_SECRET,
  resource: process.env['GATEWAY_AUDIENCE'] ?? AUDIENCES.gateway,
});

async function show(title: string, url: string, token?: string): Promise<void> {
  const response = await fetch(url, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  const challenge = response.headers.get('www-authenticate');
  console.log(
    `\n${title}\nGET ${url} -> ${String(response.status)}${challenge === null ? '' : `\nWWW-Authenticate: ${challenge}`}`,
  );
  const text = await response.text();
  try {
    console.log(JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    console.log(text);
  }
}

try {
  const { access_token: reader } = await demo.getToken({ scope: 'summary:read' });
  await show('1. The merged summary, with a summary:read token', `${gateway}/patients/123/summary`, reader);
  await show('2. No token: refused with a bare Bearer challenge', `${gateway}/patients/123/summary`);
  const { access_token: writer } = await demo.getToken({ scope: 'summary:write' });
  await show(
    '3. A token without summary:read: 403 insufficient_scope',
    `${gateway}/patients/123/summary`,
    writer,
  );
  await show(
    '4. Around the gateway, straight to the orders service, no token: refused too',
    `${orders}/orders?patient=123`,
  );
  const redisUrl = redisUrlFromEnv();
  if (redisUrl === undefined) {
    console.log(
      '\nThe replica steps (one introspection for two FHIR replicas, a revocation seen by both) need the\n' +
        'replicas: start the fleet and run the demo with REDIS_URL set (e.g. REDIS_URL=redis://127.0.0.1:6379).',
    );
  } else {
    const replicas = replicaPortsFromEnv(ports);
    const passed = await runReplicaSteps({
      issuer,
      authorizationServer: serviceUrl(ports, 'authorization-server'),
      fhir: [serviceUrl(ports, 'fhir-service'), `http://127.0.0.1:${String(replicas['fhir-service'])}`],
      cacheSeconds: Number(process.env['FHIR_INTROSPECTION_CACHE_SECONDS'] ?? 60),
      step: 5,
      redisUrl,
    });
    if (!passed) {
      console.error('\nUnexpected answers in the replica steps (see above).');
      process.exitCode = 1;
    }
  }
} catch (error) {
  console.error(
    `The demo failed: ${error instanceof Error ? error.message : String(error)}. Is the fleet running (npm start)?`,
  );
  process.exitCode = 1;
}
