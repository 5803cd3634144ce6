// The subpath: the script alone, without loading the authorization server (and oidc-provider).
import { runSmartAuthorizationCodeFlow } from '@bearer-guard/example-authorization-server/smart-launch';
import { AUDIENCES, issuerFromEnv, portsFromEnv, serviceUrl } from './config.js';

// `npm run demo:smart` (with `npm start` running): the SMART App Launch path, no browser. The public
// `smart-app` client runs the authorization-code + PKCE flow against the fleet's authorization
// server (the development login and consent pages filled in by a script), then reads FHIR data in
// its launch context (patient 123: 200) and outside it (patient 456: 403).
const ports = portsFromEnv();
const issuer = issuerFromEnv(ports);
const fhir = serviceUrl(ports, 'fhir-service');
const fhirAudience = process.env['FHIR_AUDIENCE'] ?? AUDIENCES.fhir;
const redirectUri = process.env['SMART_REDIRECT_URI'] ?? 'http://127.0.0.1:4400/callback';
const scope = 'launch/patient openid fhirUser patient/Patient.read patient/Observation.rs';

// Enough of a token to recognise it, never the whole of it.
const trim = (token: string): string => `${token.slice(0, 8)}…(${String(token.length)} characters)`;

async function show(title: string, url: string, token: string): Promise<number> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as {
    resourceType?: string;
    id?: string;
    total?: number;
    issue?: { code?: string; diagnostics?: string }[];
  };
  const what =
    body.resourceType === 'OperationOutcome'
      ? `OperationOutcome ${String(body.issue?.[0]?.code)}: ${String(body.issue?.[0]?.diagnostics)}`
      : `${String(body.resourceType)}${body.id === undefined ? '' : `/${body.id}`}${body.total === undefined ? '' : ` (total ${String(body.total)})`}`;
  console.log(`\n${title}\nGET ${url} -> ${String(response.status)}  ${what}`);
  return response.status;
}

try {
  console.log(`SMART App Launch (standalone), client smart-app, against ${issuer}\n`);
  let n = 0;
  const launch = await runSmartAuthorizationCodeFlow({
    issuer,
    clientId: 'smart-app',
    redirectUri,
    scope,
    resource: fhirAudience,
    login: 'alice',
    onStep: (step) => {
      n += 1;
      console.log(`${String(n).padStart(2)}. ${step}`);
    },
  });
  console.log(
    `\naccess token ${trim(launch.access_token)}: opaque, checked by introspection at the FHIR service`,
  );
  const statuses = [
    await show(
      `In the launch context (patient ${String(launch.patient)}): 200`,
      `${fhir}/Patient/${String(launch.patient)}`,
      launch.access_token,
    ),
    await show(
      'Its observations: 200',
      `${fhir}/Observation?patient=${String(launch.patient)}`,
      launch.access_token,
    ),
    await show(
      'Another patient, outside the launch context: 403',
      `${fhir}/Patient/456`,
      launch.access_token,
    ),
  ];
  if (statuses.join() !== '200,200,403') {
    console.error(`\nUnexpected answers ${statuses.join(', ')} (expected 200, 200, 403).`);
    process.exitCode = 1;
  }
} catch (error) {
  console.error(
    `The SMART demo failed: ${error instanceof Error ? error.message : String(error)}. Is the fleet running (npm start)?`,
  );
  process.exitCode = 1;
}
