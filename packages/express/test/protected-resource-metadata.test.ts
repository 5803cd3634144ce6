import assert from 'node:assert/strict';

import {
  authenticate,
  ConfigurationError,
  errorHandler,
  protectedResourceMetadata,
} from '@bearer-guard/express';
import type { ProtectedResourceMetadataOptions, SingleIssuerOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { TIMEOUT } from './support.js';

const RESOURCE = 'https://api.example.com/fhir/r4';
const DOCUMENT_PATH = '/.well-known/oauth-protected-resource/fhir/r4';
const METADATA_URL = `https://api.example.com${DOCUMENT_PATH}`;

describe('protectedResourceMetadata() (RFC 9728)', function () {
  let as: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
  });

  function api(options: Partial<SingleIssuerOptions> = {}, metadata: ProtectedResourceMetadataOptions = {}) {
    const auth = authenticate({
      issuer: as.issuer,
      audience: as.audience,
      jwksUri: as.jwksUri,
      timeout: TIMEOUT,
      publicUrl: RESOURCE,
      ...options,
    });
    const app = express();
    app.set('env', 'test');
    app.use(protectedResourceMetadata(auth, metadata));
    app.use(auth);
    app.get('/patients', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(errorHandler());
    return app;
  }

  it('serves the document at the path-inserted well-known URL (§3.1), from the configuration', async function () {
    const res = await request(api()).get(DOCUMENT_PATH).set('Host', 'attacker.example');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(res.headers['cache-control'], 'max-age=3600');
    assert.equal(res.headers['access-control-allow-origin'], '*');
    // Zero-value members left out (§3.2); `resource` is the identifier, never the Host (§3.3).
    assert.deepEqual(res.body, {
      resource: RESOURCE,
      authorization_servers: [as.issuer],
      bearer_methods_supported: ['header'],
    });
  });

  it('lists scopes, name, documentation, token locations, DPoP and mTLS settings', async function () {
    const app = api(
      {
        tokenLocations: { body: true, query: true },
        dpop: { required: true, algorithms: ['ES256', 'EdDSA'] },
        mtls: { certificate: 'socket' },
      },
      {
        scopesSupported: ['patient/*.rs', 'openid'],
        resourceName: 'FHIR R4',
        resourceDocumentation: 'https://docs.example.com/fhir',
        maxAge: 60,
      },
    );
    const res = await request(app).get(DOCUMENT_PATH);
    assert.equal(res.headers['cache-control'], 'max-age=60');
    assert.deepEqual(res.body, {
      resource: RESOURCE,
      authorization_servers: [as.issuer],
      scopes_supported: ['patient/*.rs', 'openid'],
      bearer_methods_supported: ['header', 'body', 'query'],
      resource_name: 'FHIR R4',
      resource_documentation: 'https://docs.example.com/fhir',
      tls_client_certificate_bound_access_tokens: true,
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
      dpop_bound_access_tokens_required: true,
    });
  });

  it('places a root resource at /.well-known/oauth-protected-resource, a trailing slash removed first', async function () {
    const root = await request(api({ publicUrl: 'https://api.example.com' })).get(
      '/.well-known/oauth-protected-resource',
    );
    assert.equal(root.status, 200);
    assert.equal((root.body as { resource: string }).resource, 'https://api.example.com');
    const slash = await request(api({}, { resource: 'https://api.example.com/orders/' })).get(
      '/.well-known/oauth-protected-resource/orders',
    );
    assert.equal(slash.status, 200);
    assert.equal((slash.body as { resource: string }).resource, 'https://api.example.com/orders/');
  });

  it('answers HEAD and the CORS preflight, 405 to other methods, and leaves other paths alone', async function () {
    const app = api();
    const head = await request(app).head(DOCUMENT_PATH);
    assert.equal(head.status, 200);
    assert.equal(head.headers['cache-control'], 'max-age=3600');
    const preflight = await request(app)
      .options(DOCUMENT_PATH)
      .set('Origin', 'https://client.example')
      .set('Access-Control-Request-Method', 'GET');
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
    assert.equal(preflight.headers['access-control-allow-methods'], 'GET, HEAD, OPTIONS');
    for (const method of ['post', 'put', 'delete', 'patch'] as const) {
      const res = await request(app)[method](DOCUMENT_PATH);
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.allow, 'GET, HEAD, OPTIONS');
    }
    assert.equal((await request(app).get('/.well-known/oauth-protected-resource/other')).status, 401);
    assert.equal((await request(app).get('/patients')).status, 401);
  });

  it('makes every challenge carry resource_metadata (§5.1), on both schemes with DPoP', async function () {
    const res = await request(api()).get('/patients');
    assert.equal(res.headers['www-authenticate'], `Bearer realm="api", resource_metadata="${METADATA_URL}"`);
    const bad = await request(api()).get('/patients').set('Authorization', 'Bearer not.a.jwt');
    assert.match(res.headers['www-authenticate'] ?? '', /resource_metadata=/);
    assert.match(
      bad.headers['www-authenticate'] ?? '',
      new RegExp(`error="invalid_token".*resource_metadata="${METADATA_URL}"$`),
    );
    const dpop = await request(api({ dpop: { algorithms: ['ES256'] } })).get('/patients');
    assert.equal(
      dpop.headers['www-authenticate'],
      `Bearer realm="api", resource_metadata="${METADATA_URL}", DPoP algs="ES256", resource_metadata="${METADATA_URL}"`,
    );
  });

  it('refuses wrong options at construction', function () {
    const guard = (options: Partial<SingleIssuerOptions> = {}) =>
      authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        ...options,
      });
    const refused = (fn: () => unknown, code: string, message: RegExp) => {
      assert.throws(
        fn,
        (error: unknown) =>
          error instanceof ConfigurationError && error.code === code && message.test(error.message),
      );
    };
    refused(
      () => protectedResourceMetadata(guard()),
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      /pass `resource`, or set `publicUrl`/,
    );
    refused(
      () => protectedResourceMetadata(guard(), { resource: 'http://api.example.com' }),
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      /`resource`.*https URL/,
    );
    refused(
      () => protectedResourceMetadata(guard(), { resource: `${RESOURCE}#x` }),
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      /without query or fragment/,
    );
    refused(
      () =>
        protectedResourceMetadata(guard({ resourceMetadata: 'https://elsewhere.example/prm' }), {
          resource: RESOURCE,
        }),
      'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
      /resourceMetadata/,
    );
    refused(
      () =>
        protectedResourceMetadata(guard(), {
          resource: RESOURCE,
          scopes: ['a'],
        } as ProtectedResourceMetadataOptions),
      'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
      /`scopes` is not an option/,
    );
    refused(
      () => protectedResourceMetadata(guard(), { resource: RESOURCE, maxAge: -1 }),
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      /maxAge/,
    );
    // The same URL as the option: fine.
    protectedResourceMetadata(guard({ resourceMetadata: METADATA_URL }), { resource: RESOURCE });
  });
});
