import { createTokenClient } from '@bearer-guard/client';
import { createDpopProof, generateDpopKey } from '@bearer-guard/testkit';
import { AUDIENCES, DEV_SECRETS, issuerFromEnv, portsFromEnv, serviceUrl } from './config.js';

// `npm run demo` (with `npm start` running): the demo client gets a token and calls the gateway,
// then three refusals, then what DPoP (RFC 9449) adds at the orders service. Tokens come from
// @bearer-guard/client, never a hand-written token request. It reads the variables `npm start`
// reads, so it finds a fleet started with other ports or issuer.
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

async function show(
  title: string,
  url: string,
  headers: Record<string, string> = {},
  response?: Response,
): Promise<Response> {
  const answer = response ?? (await fetch(url, { headers, signal: AbortSignal.timeout(10_000) }));
  const challenge = answer.headers.get('www-authenticate');
  console.log(
    `\n${title}\nGET ${url} -> ${String(answer.status)}${challenge === null ? '' : `\nWWW-Authenticate: ${challenge}`}`,
  );
  const text = await answer.clone().text();
  try {
    console.log(JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    console.log(text);
  }
  return answer;
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/**
 * What an attacker holding a copy of the gateway's orders token can do with it: nothing. The demo
 * plays the gateway (its development credentials) with a DPoP key of its own, so it can also sign
 * a proof by hand and send it twice.
 */
async function dpopSteps(): Promise<void> {
  const key = await generateDpopKey();
  const publicKey = await crypto.subtle.importKey(
    'jwk',
    key.publicJwk,
    { name: 'ECDSA', namedCurve: 'P-256' },
    true,
    ['verify'],
  );
  const asGateway = createTokenClient({
    issuer,
    clientId: 'gateway',
    clientSecret: process.env['GATEWAY_CLIENT_SECRET'] ?? DEV_SECRETS.GATEWAY_CLIENT_SECRET,
    scope: 'orders:read',
    resource: process.env['ORDERS_AUDIENCE'] ?? AUDIENCES.orders,
    dpop: { privateKey: key.privateKey, publicKey },
  });
  const url = `${orders}/orders?patient=123`;
  const first = await asGateway.fetch(url, { signal: AbortSignal.timeout(10_000) });
  await show(
    '5. A DPoP-bound token (as the gateway gets them) with a proof and the server nonce: 200',
    url,
    {},
    first,
  );
  const { access_token: token } = await asGateway.getToken();
  const proof = await createDpopProof(key, {
    htm: 'GET',
    htu: url,
    accessToken: token,
    nonce: first.headers.get('dpop-nonce') ?? undefined,
  });
  const once = { authorization: `DPoP ${token}`, dpop: proof };
  const accepted = await fetch(url, { headers: once, signal: AbortSignal.timeout(10_000) });
  await accepted.arrayBuffer();
  console.log(`\n6. One proof, sent twice: the first time GET ${url} -> ${String(accepted.status)}`);
  await show('   the second time (a replayed proof): refused', url, once);
  await show('7. The same token sent as a bearer token (a stolen token): refused', url, bearer(token));
}

try {
  const { access_token: reader } = await demo.getToken({ scope: 'summary:read' });
  await show(
    '1. The merged summary, with a summary:read token',
    `${gateway}/patients/123/summary`,
    bearer(reader),
  );
  await show('2. No token: refused with a bare Bearer challenge', `${gateway}/patients/123/summary`);
  const { access_token: writer } = await demo.getToken({ scope: 'summary:write' });
  await show(
    '3. A token without summary:read: 403 insufficient_scope',
    `${gateway}/patients/123/summary`,
    bearer(writer),
  );
  await show(
    '4. Around the gateway, straight to the orders service, no token: refused too',
    `${orders}/orders?patient=123`,
  );
  await dpopSteps();
} catch (error) {
  console.error(
    `The demo failed: ${error instanceof Error ? error.message : String(error)}. Is the fleet running (npm start)?`,
  );
  process.exitCode = 1;
}
