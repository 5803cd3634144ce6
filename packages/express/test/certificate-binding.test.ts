import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { authenticate, ConfigurationError, errorHandler } from '@bearer-guard/express';
import type { SingleIssuerOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { DESCRIPTION, TIMEOUT } from './support.js';

const MISMATCH = 'The access token is bound to a client certificate that was not presented.';
const mismatch = `Bearer realm="api", error="invalid_token", error_description="${MISMATCH}"`;

interface Pair {
  key: string;
  cert: string;
  /** RFC 8705 §3.1 `x5t#S256`. */
  x5t: string;
  der: Buffer;
}

/** A self-signed P-256 certificate made by openssl now (no fixture that expires). */
function generate(dir: string, name: string): Pair {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile,
      '-out', certFile, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  ); // prettier-ignore
  const cert = readFileSync(certFile, 'utf8');
  const der = Buffer.from(new X509Certificate(cert).raw);
  return {
    key: readFileSync(keyFile, 'utf8'),
    cert,
    der,
    x5t: createHash('sha256').update(der).digest('base64url'),
  };
}

describe('authenticate() with mtls (RFC 8705 §3)', function () {
  let as: AuthorizationServerStub;
  let dir: string;
  let server: Pair;
  let client: Pair;
  let stranger: Pair;

  before(async function () {
    this.timeout(30_000);
    dir = mkdtempSync(join(tmpdir(), 'bearer-guard-mtls-'));
    server = generate(dir, 'server');
    client = generate(dir, 'client');
    stranger = generate(dir, 'stranger');
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function api(options: Partial<SingleIssuerOptions> = {}) {
    const app = express();
    app.set('env', 'test');
    app.use(
      authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        timeout: TIMEOUT,
        mtls: { certificate: 'socket' },
        ...options,
      }),
    );
    app.get('/orders', (req, res) => {
      res.json({ confirmation: req.auth?.confirmation ?? null });
    });
    app.use(errorHandler());
    return app;
  }

  /** A GET over real TLS, presenting `certificate` (or none). */
  async function tlsGet(app: express.Express, token: string, certificate?: Pair) {
    const https: Server = createServer(
      { key: server.key, cert: server.cert, requestCert: true, rejectUnauthorized: false },
      app,
    );
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = https.address() as AddressInfo;
      return await new Promise<{ status: number; headers: Record<string, unknown>; body: unknown }>(
        (resolve, reject) => {
          const req = httpsRequest(
            {
              host: '127.0.0.1',
              port,
              path: '/orders',
              headers: { authorization: `Bearer ${token}` },
              ca: server.cert,
              ...(certificate === undefined ? {} : { key: certificate.key, cert: certificate.cert }),
              agent: false,
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (chunk: Buffer) => chunks.push(chunk));
              res.on('end', () => {
                resolve({
                  status: res.statusCode ?? 0,
                  headers: res.headers,
                  body: JSON.parse(Buffer.concat(chunks).toString()) as unknown,
                });
              });
            },
          );
          req.on('error', reject);
          req.end();
        },
      );
    } finally {
      https.closeAllConnections();
      await new Promise<void>((resolve) => {
        https.close(() => {
          resolve();
        });
      });
    }
  }

  describe("certificate: 'socket' over real TLS", function () {
    it('passes a JWT bound to the client certificate, and tells the binding', async function () {
      const token = await as.sign({ cnf: { 'x5t#S256': client.x5t } });
      const res = await tlsGet(api(), token, client);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { confirmation: { 'x5t#S256': client.x5t } });
    });

    it('refuses another certificate or none: 401 invalid_token', async function () {
      const token = await as.sign({ cnf: { 'x5t#S256': client.x5t } });
      for (const certificate of [stranger, undefined]) {
        const res = await tlsGet(api(), token, certificate);
        assert.equal(res.status, 401);
        assert.equal(res.headers['www-authenticate'], mismatch);
      }
      // Plain HTTP: there is no certificate at all.
      const plain = await request(api()).get('/orders').set('Authorization', `Bearer ${token}`);
      assert.equal(plain.headers['www-authenticate'], mismatch);
    });

    it('checks an introspected token with top-level cnf.x5t#S256 (§3.2) the same way', async function () {
      const app = api({
        jwksUri: undefined,
        introspection: {
          endpoint: as.introspectionEndpoint,
          clientId: as.introspectionClient.clientId,
          clientSecret: as.introspectionClient.clientSecret,
          timeout: TIMEOUT,
        },
      });
      const token = as.issueOpaqueToken({ cnf: { 'x5t#S256': client.x5t } });
      assert.equal((await tlsGet(app, token, client)).status, 200);
      const res = await tlsGet(app, token, stranger);
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], mismatch);
    });

    it('unbound tokens still pass; without mtls a bound token stays refused as sender-constrained', async function () {
      assert.equal((await tlsGet(api(), await as.sign(), client)).status, 200);
      const token = await as.sign({ cnf: { 'x5t#S256': client.x5t } });
      const res = await tlsGet(api({ mtls: undefined }), token, client);
      assert.equal(res.status, 401);
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer realm="api", error="invalid_token", error_description="${DESCRIPTION.senderConstrained}"`,
      );
    });
  });

  describe('certificate from a TLS-terminating proxy header', function () {
    const formats = () => ({
      rfc9440: { header: 'client-cert', value: `:${client.der.toString('base64')}:` },
      'xfcc Hash': {
        header: 'x-forwarded-client-cert',
        value: `By=spiffe://edge;Hash=${createHash('sha256').update(stranger.der).digest('hex')},By=spiffe://sidecar;Hash=${createHash('sha256').update(client.der).digest('hex')};Subject="CN=client"`,
      },
      'xfcc Cert': {
        header: 'x-forwarded-client-cert',
        value: `Hash=0000;Subject="a,b",By=x;Cert="${encodeURIComponent(client.cert)}"`,
      },
      nginx: { header: 'ssl-client-cert', value: encodeURIComponent(client.cert) },
    });

    for (const [name, format] of [
      ['rfc9440', 'rfc9440'],
      ['xfcc Hash', 'xfcc'],
      ['xfcc Cert', 'xfcc'],
      ['nginx', 'nginx'],
    ] as const) {
      it(`${name}: believed from a trustProxy peer only`, async function () {
        const { header, value } = formats()[name];
        const token = await as.sign({ cnf: { 'x5t#S256': client.x5t } });
        const options = { mtls: { certificate: { header, format } } };
        const send = (app: express.Express, headerValue: string) =>
          request(app).get('/orders').set('Authorization', `Bearer ${token}`).set(header, headerValue);
        const trusted = api({ ...options, trustProxy: ['127.0.0.1'] });
        const ok = await send(trusted, value);
        assert.equal(ok.status, 200, JSON.stringify(ok.body));
        assert.deepEqual(ok.body, { confirmation: { 'x5t#S256': client.x5t } });
        // The same header from a peer that is not a trusted proxy: a spoofing attempt.
        const spoofed = await send(api({ ...options, trustProxy: ['10.9.8.7'] }), value);
        assert.equal(spoofed.headers['www-authenticate'], mismatch);
        // Garbage or another certificate from the trusted proxy.
        assert.equal((await send(trusted, 'garbage')).headers['www-authenticate'], mismatch);
      });
    }

    it("xfcc: an element the client sent with an open quote cannot swallow the proxy's element", async function () {
      // Envoy with APPEND_FORWARD keeps the client's XFCC and appends its own element after a comma:
      // an unterminated quote in the client's part must not hide that comma and make the client's
      // Hash the last element's.
      const token = await as.sign({ cnf: { 'x5t#S256': client.x5t } });
      const app = api({
        trustProxy: ['127.0.0.1'],
        mtls: { certificate: { header: 'x-forwarded-client-cert', format: 'xfcc' } },
      });
      const clientHex = createHash('sha256').update(client.der).digest('hex');
      const strangerHex = createHash('sha256').update(stranger.der).digest('hex');
      const forged = `Hash=${clientHex};x="`;
      const appended = `,By=spiffe://sidecar;Hash=${strangerHex};Subject="CN=stranger"`;
      const res = await request(app)
        .get('/orders')
        .set('Authorization', `Bearer ${token}`)
        .set('x-forwarded-client-cert', forged + appended);
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], mismatch);
    });

    it('a function of the request', async function () {
      const token = await as.sign({ cnf: { 'x5t#S256': client.x5t } });
      const app = api({ mtls: { certificate: () => client.cert } });
      assert.equal((await request(app).get('/orders').set('Authorization', `Bearer ${token}`)).status, 200);
      const throwing = api({
        mtls: {
          certificate: () => {
            throw new Error('bug');
          },
        },
      });
      const res = await request(throwing).get('/orders').set('Authorization', `Bearer ${token}`);
      assert.equal(res.headers['www-authenticate'], mismatch);
    });

    it('options are validated at construction', function () {
      const base = { issuer: as.issuer, audience: as.audience, jwksUri: as.jwksUri };
      const refused = (mtls: unknown, extra: Record<string, unknown>, message: RegExp) => {
        assert.throws(
          () => authenticate({ ...base, ...extra, mtls } as SingleIssuerOptions),
          (error: unknown) => error instanceof ConfigurationError && message.test(error.message),
        );
      };
      refused({ certificate: { header: 'client-cert', format: 'rfc9440' } }, {}, /set `trustProxy`/);
      refused(
        { certificate: { header: 'client-cert', format: 'pem' } },
        { trustProxy: ['127.0.0.1'] },
        /`mtls.certificate.format`/,
      );
      refused({ certificate: 'tls' }, {}, /`mtls.certificate` must be 'socket'/);
      refused({ certificate: 'socket', extra: 1 }, {}, /`mtls.extra`/);
    });
  });
});
