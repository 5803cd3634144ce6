// A script-driven SMART App Launch (standalone launch): authorization code + PKCE (RFC 7636, S256)
// with oauth4webapi on the client side, and a tiny user agent (fetch, a cookie jar, manual
// redirects) that fills in the provider's development login and consent pages. For the fleet's
// end-to-end tests and the demo; it only knows the `devInteractions` pages.
import * as oauth from 'oauth4webapi';

export interface SmartLaunchOptions {
  /** The authorization server's issuer identifier; its discovery document is fetched. */
  issuer: string;
  clientId: string;
  /** A registered redirect URI. Nothing needs to listen there: the redirect is caught, not followed. */
  redirectUri: string;
  /** Space-separated, e.g. `launch/patient openid fhirUser patient/Patient.read`. */
  scope: string;
  /** The FHIR server's base URL, sent as `resource` (RFC 8707) and as SMART's `aud`. */
  resource: string;
  /** The account to sign in as on the development login page (`alice` has patient `123`). */
  login: string;
  /** Defaults to `demo`: the development login page accepts any password. */
  password?: string | undefined;
  /** Deadline for each HTTP request, in milliseconds. Defaults to `10000`. */
  timeoutMs?: number | undefined;
  /**
   * Called with a one-line description of each step (discovery, each request of the user agent,
   * the code exchange), for a demo that shows the flow. No token is ever passed to it.
   */
  onStep?: ((step: string) => void) | undefined;
}

/** The token response, with SMART's launch context (SMART App Launch §2.0.8). */
export interface SmartLaunchResult {
  access_token: string;
  token_type: string;
  /** The patient in context; present when `launch/patient` was granted. */
  patient: string | undefined;
  scope: string;
  expires_in: number;
  id_token?: string | undefined;
  refresh_token?: string | undefined;
}

const MAX_STEPS = 12;

class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const index = pair.indexOf('=');
      if (index <= 0) continue;
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key = '', setting = ''] = attribute.trim().split('=');
        if (key.toLowerCase() === 'max-age') return Number(setting) <= 0;
        return key.toLowerCase() === 'expires' && Date.parse(setting) <= Date.now();
      });
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

function htmlDecode(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCodePoint(Number.parseInt(code, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag);
  return match?.[1] === undefined ? undefined : htmlDecode(match[1]);
}

/** The page's form: where it posts and its hidden fields. */
function parseForm(html: string, base: URL): { action: URL; fields: URLSearchParams } {
  const form = /<form\b[^>]*>/i.exec(html)?.[0];
  const action = form === undefined ? undefined : attribute(form, 'action');
  if (action === undefined) throw new Error(`SMART launch: no form on the page at ${base.href}`);
  const fields = new URLSearchParams();
  for (const [input] of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = attribute(input, 'name');
    if (attribute(input, 'type') === 'hidden' && name !== undefined)
      fields.set(name, attribute(input, 'value') ?? '');
  }
  return { action: new URL(action, base), fields };
}

function isRedirectUri(location: URL, redirectUri: URL): boolean {
  return location.origin === redirectUri.origin && location.pathname === redirectUri.pathname;
}

/**
 * Plays the user agent from the authorization request to the redirect back to `redirectUri`:
 * follows redirects on the issuer's origin, signs in on the login page, accepts on the consent page.
 * @returns the URL the authorization server redirected to, with `code` (or `error`) and `state`.
 */
async function userAgent(authorizationUrl: URL, options: SmartLaunchOptions): Promise<URL> {
  const jar = new CookieJar();
  const redirectUri = new URL(options.redirectUri);
  const timeout = options.timeoutMs ?? 10_000;
  const report = options.onStep ?? ((): void => undefined);
  let url = authorizationUrl;
  let body: URLSearchParams | undefined;
  for (let step = 0; step < MAX_STEPS; step += 1) {
    if (url.origin !== authorizationUrl.origin) {
      throw new Error(`SMART launch: redirected off the authorization server, to ${url.href}`);
    }
    const response = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { accept: 'text/html', cookie: jar.header() },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeout),
    });
    jar.store(response);
    const location = response.headers.get('location');
    report(
      `${body === undefined ? 'GET' : 'POST'} ${url.origin}${url.pathname} -> ${String(response.status)}`,
    );
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (isRedirectUri(next, redirectUri)) {
        report(
          `redirected back to ${next.origin}${next.pathname} with a code (nothing listens there: the script catches it)`,
        );
        return next;
      }
      [url, body] = [next, undefined];
      continue;
    }
    const text = await response.text();
    if (response.status !== 200) {
      throw new Error(`SMART launch: ${response.status} from ${url.href}: ${text.slice(0, 300)}`);
    }
    const { action, fields } = parseForm(text, url);
    switch (fields.get('prompt') ?? '') {
      case 'login':
        report(`login page: signing in as "${options.login}" (the development login accepts any password)`);
        fields.set('login', options.login);
        fields.set('password', options.password ?? 'demo');
        break;
      case 'consent':
        report('consent page: accepting');
        break;
      default:
        throw new Error(
          `SMART launch: unexpected form at ${url.href} (not the development login or consent page)`,
        );
    }
    [url, body] = [action, fields];
  }
  throw new Error(`SMART launch: no redirect to ${options.redirectUri} after ${MAX_STEPS} steps`);
}

/**
 * Runs a SMART App Launch standalone launch for a public client against the fleet's authorization
 * server: discovery, an authorization request with PKCE (S256), `state`, `resource` and `aud`, the
 * development login (as `options.login`) and consent pages, then the code exchange.
 *
 * This does NOT run a redirect-URI listener (the redirect is caught), does not verify the ID
 * token's signature (oauth4webapi checks its claims; it came over the token endpoint's direct
 * connection, OIDC Core §3.1.3.7), and works only with the provider's `devInteractions` pages.
 *
 * @example
 * const { access_token, patient } = await runSmartAuthorizationCodeFlow({
 *   issuer: 'http://127.0.0.1:4000', clientId: 'smart-app', redirectUri: 'http://127.0.0.1:4400/callback',
 *   scope: 'launch/patient openid fhirUser patient/Patient.read', resource: 'https://fhir.fleet.example/r4',
 *   login: 'alice',
 * }); // patient === '123'
 * @see RFC 6749 §4.1, RFC 7636, RFC 8707, SMART App Launch 2.2 §2.0.4–2.0.8
 * @throws if a step fails, e.g. an `error` redirect (oauth4webapi `AuthorizationResponseError`), a
 *   token error (`ResponseBodyError`), or a missing `patient` although `launch/patient` was granted.
 */
export async function runSmartAuthorizationCodeFlow(options: SmartLaunchOptions): Promise<SmartLaunchResult> {
  const issuer = new URL(options.issuer);
  const report = options.onStep ?? ((): void => undefined);
  const http = {
    // Deprecated only to stand out: the fleet's development issuer is plain http on 127.0.0.1.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    [oauth.allowInsecureRequests]: issuer.protocol === 'http:',
    signal: () => AbortSignal.timeout(options.timeoutMs ?? 10_000),
  };
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, http));
  if (as.authorization_endpoint === undefined) throw new Error('SMART launch: no authorization_endpoint');
  report(
    `discovery: ${issuer.origin}/.well-known/openid-configuration -> authorization ${as.authorization_endpoint}, token ${String(as.token_endpoint)}`,
  );
  const client: oauth.Client = { client_id: options.clientId };

  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authorizationUrl = new URL(as.authorization_endpoint);
  for (const [name, value] of Object.entries({
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope,
    resource: options.resource,
    aud: options.resource,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    // OpenID Connect Core §11: offline_access is only granted after an explicit consent prompt.
    ...(options.scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
  })) {
    authorizationUrl.searchParams.set(name, value);
  }
  report(
    `authorization request: response_type=code, client_id=${options.clientId}, scope="${options.scope}", resource=aud=${options.resource}, PKCE S256 code_challenge, state`,
  );

  const callback = oauth.validateAuthResponse(as, client, await userAgent(authorizationUrl, options), state);
  report(
    'token request: grant_type=authorization_code, the code and the PKCE code_verifier (a public client: no secret)',
  );
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    callback,
    options.redirectUri,
    codeVerifier,
    { ...http, additionalParameters: { resource: options.resource } },
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);

  const patient = typeof tokens['patient'] === 'string' ? tokens['patient'] : undefined;
  if (patient === undefined && (tokens.scope ?? options.scope).split(' ').includes('launch/patient')) {
    throw new Error('SMART launch: launch/patient was granted but the token response has no patient');
  }
  if (tokens.expires_in === undefined) throw new Error('SMART launch: the token response has no expires_in');
  report(
    `token response: ${tokens.token_type} access token (${String(tokens.expires_in)} s), scope "${tokens.scope ?? ''}", patient ${String(patient)}`,
  );
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    patient,
    scope: tokens.scope ?? '',
    expires_in: tokens.expires_in,
    id_token: tokens.id_token,
    refresh_token: tokens.refresh_token,
  };
}
