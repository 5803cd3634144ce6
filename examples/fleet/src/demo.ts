import { createTokenClient } from '@bearer-guard/client';
import { AUDIENCES, DEV_SECRETS, issuerFromEnv, portsFromEnv, serviceUrl } from './config.js';

// `npm run demo` (with `npm start` running): the demo client gets a token and calls the gateway,
// then three refusals. Tokens come from @bearer-guard/client, never a hand-written token request.
// It reads the variables `npm start` reads, so it finds a fleet started with other ports or issuer.
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
} catch (error) {
  console.error(
    `The demo failed: ${error instanceof Error ? error.message : String(error)}. Is the fleet running (npm start)?`,
  );
  process.exitCode = 1;
}
