import assert from 'node:assert/strict';

import {
  BearerGuardError,
  parseSmartScope,
  requiredSmartAccess,
  requireSmartAccess,
  smartAccess,
  smartChallengeScope,
  smartPatient,
} from '@bearer-guard/core';
import type { Principal, SmartRequest, SmartScope } from '@bearer-guard/core';

import { assertBearerError, assertConfigError, thrown } from './helpers.js';

/** A parsed scope as plain data: the interaction set as a string in `cruds` order. */
function shape(scope: SmartScope | undefined) {
  if (scope === undefined) return undefined;
  const letters = ['c', 'r', 'u', 'd', 's']
    .filter((letter) => scope.interactions.has(letter as 'c'))
    .join('');
  return { ...scope, interactions: letters };
}

function principal(scope: string, claims: Record<string, unknown> = {}): Principal {
  return {
    token: 't',
    source: 'jwt',
    subject: 'user-1',
    clientId: 'app',
    issuer: 'https://as.example',
    audience: ['https://fhir.example'],
    scopes: scope.split(' ').filter((entry) => entry !== ''),
    expiresAt: new Date(Date.now() + 60_000),
    claims: { scope, ...claims },
  };
}

const label = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(value));

const OBS_READ: SmartRequest = { resourceType: 'Observation', interaction: 'read', patientId: '123' };

describe('smart-scope: SMART App Launch clinical-data scopes', function () {
  describe('parseSmartScope: v1 grammar', function () {
    for (const [permission, letters] of [
      ['read', 'rs'],
      ['write', 'cud'],
      ['*', 'cruds'],
    ] as const) {
      it(`patient/Observation.${permission} grants ${letters}`, function () {
        assert.deepEqual(shape(parseSmartScope(`patient/Observation.${permission}`)), {
          context: 'patient',
          resourceType: 'Observation',
          interactions: letters,
          parameters: [],
          version: 1,
        });
      });
    }

    it('reads every context and the * resource type', function () {
      for (const context of ['patient', 'user', 'system'] as const) {
        const scope = parseSmartScope(`${context}/*.read`);
        assert.equal(scope?.context, context);
        assert.equal(scope.resourceType, '*');
        assert.equal(scope.version, 1);
      }
      assert.equal(shape(parseSmartScope('user/*.*'))?.interactions, 'cruds');
    });
  });

  describe('parseSmartScope: v2 grammar', function () {
    for (const letter of ['c', 'r', 'u', 'd', 's']) {
      it(`accepts the single letter .${letter}`, function () {
        assert.deepEqual(shape(parseSmartScope(`user/Condition.${letter}`)), {
          context: 'user',
          resourceType: 'Condition',
          interactions: letter,
          parameters: [],
          version: 2,
        });
      });
    }

    it('accepts every subset of cruds written in order (31 of them)', function () {
      let accepted = 0;
      for (let mask = 1; mask < 32; mask++) {
        const letters = ['c', 'r', 'u', 'd', 's'].filter((_, index) => (mask & (1 << index)) !== 0).join('');
        assert.equal(shape(parseSmartScope(`system/*.${letters}`))?.interactions, letters, letters);
        accepted++;
      }
      assert.equal(accepted, 31);
    });

    it('keeps search-parameter constraints as decoded name/value pairs', function () {
      const scope = parseSmartScope(
        'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&code=a%20b',
      );
      assert.deepEqual(shape(scope), {
        context: 'patient',
        resourceType: 'Observation',
        interactions: 'rs',
        parameters: [
          ['category', 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory'],
          ['code', 'a b'],
        ],
        version: 2,
      });
    });
  });

  describe('parseSmartScope: anything else is undefined', function () {
    for (const scope of [
      'patient/Observation.x',
      'patient/observation.read',
      'patient/O.read',
      'Patient.read',
      'patient/*.',
      'patient/Observation.',
      'patient/Observation',
      'patient/Observation.sr',
      'patient/Observation.rr',
      'patient/Observation.csr',
      'patient/Observation.READ',
      'patient/Observation.RS',
      'patient/Observation.Read',
      'Patient/Observation.read',
      'PATIENT/Observation.rs',
      'practitioner/Observation.rs',
      'patient/Obs-ervation.rs',
      'patient/Observation.rs.read',
      'patient//Observation.rs',
      '/Observation.rs',
      ' patient/Observation.rs',
      'patient/Observation.rs ',
      'patient/Observation.rs\n',
      'patient/Observation.read?category=laboratory',
      'patient/Observation.*?category=laboratory',
      'patient/Observation.rs?',
      'patient/Observation.rs?category',
      'patient/Observation.rs?=laboratory',
      'patient/Observation.rs?category=',
      'patient/Observation.rs?category=laboratory&',
      'patient/Observation.rs?a=1&&b=2',
      'launch/patient',
      'launch',
      'openid',
      'fhirUser',
      'offline_access',
      '',
    ]) {
      it(JSON.stringify(scope), function () {
        assert.equal(parseSmartScope(scope), undefined);
      });
    }
  });

  describe('smartAccess: interactions', function () {
    it('v1 read grants read and search, not writes', function () {
      const scopes = ['system/Observation.read'];
      for (const interaction of ['read', 'r', 's'] as const) {
        assert.equal(smartAccess(scopes, { resourceType: 'Observation', interaction }, undefined), true);
      }
      for (const interaction of ['write', 'c', 'u', 'd'] as const) {
        assert.equal(smartAccess(scopes, { resourceType: 'Observation', interaction }, undefined), false);
      }
    });

    it('v1 write grants c, u and d; v1 * grants everything', function () {
      const request = (interaction: SmartRequest['interaction']) => ({
        resourceType: 'Encounter',
        interaction,
      });
      assert.equal(smartAccess(['user/Encounter.write'], request('write'), undefined), true);
      assert.equal(smartAccess(['user/Encounter.write'], request('d'), undefined), true);
      assert.equal(smartAccess(['user/Encounter.write'], request('read'), undefined), false);
      for (const interaction of ['read', 'write', 'c', 'r', 'u', 'd', 's'] as const) {
        assert.equal(smartAccess(['user/Encounter.*'], request(interaction), undefined), true);
      }
    });

    it('each v2 letter grants exactly its interaction', function () {
      for (const granted of ['c', 'r', 'u', 'd', 's']) {
        for (const asked of ['c', 'r', 'u', 'd', 's'] as const) {
          const ok = smartAccess(
            [`system/Observation.${granted}`],
            { resourceType: 'Observation', interaction: asked },
            undefined,
          );
          assert.equal(ok, granted === asked, `${granted} vs ${asked}`);
        }
      }
    });

    it('read needs both r and s, write needs c, u and d; letters may come from several scopes', function () {
      const read = { resourceType: 'Observation', interaction: 'read' } as const;
      const write = { resourceType: 'Observation', interaction: 'write' } as const;
      assert.equal(smartAccess(['user/Observation.r'], read, undefined), false);
      assert.equal(smartAccess(['user/Observation.s'], read, undefined), false);
      assert.equal(smartAccess(['user/Observation.r', 'system/Observation.s'], read, undefined), true);
      assert.equal(smartAccess(['user/Observation.cu'], write, undefined), false);
      assert.equal(smartAccess(['user/Observation.cu', 'user/*.d'], write, undefined), true);
      assert.equal(smartAccess(['user/Observation.rs'], write, undefined), false);
    });
  });

  describe('smartAccess: resource types', function () {
    it('a typed scope reaches its type only, * reaches every type', function () {
      const condition = { resourceType: 'Condition', interaction: 'read' } as const;
      assert.equal(smartAccess(['system/Observation.rs'], condition, undefined), false);
      assert.equal(smartAccess(['system/*.rs'], condition, undefined), true);
    });

    it('resource types match case-sensitively (RFC 6749 §3.3)', function () {
      assert.equal(
        smartAccess(['system/Observation.rs'], { resourceType: 'observation', interaction: 'r' }, undefined),
        false,
      );
      assert.equal(
        smartAccess(['system/Observation.rs'], { resourceType: 'ObservationX', interaction: 'r' }, undefined),
        false,
      );
    });

    it('a malformed request grants nothing, even with system/*.cruds', function () {
      const scopes = ['system/*.cruds'];
      for (const resourceType of ['*', '', 'observation', 'Observation/1', '__proto__']) {
        assert.equal(smartAccess(scopes, { resourceType, interaction: 'r' }, undefined), false, resourceType);
      }
      for (const interaction of ['x', 'rs', 'READ', 'constructor', '__proto__', '*']) {
        const request = { resourceType: 'Observation', interaction } as unknown as SmartRequest;
        assert.equal(smartAccess(scopes, request, undefined), false, interaction);
      }
    });
  });

  describe('smartAccess: contexts and the patient compartment', function () {
    it('patient/ scopes reach the launch patient only', function () {
      const scopes = ['patient/Observation.rs'];
      assert.equal(smartAccess(scopes, OBS_READ, '123'), true);
      assert.equal(smartAccess(scopes, { ...OBS_READ, patientId: '456' }, '123'), false);
      assert.equal(smartAccess(scopes, { ...OBS_READ, patientId: '1234' }, '123'), false);
    });

    it('patient/ scopes grant nothing without a launch patient, or outside any compartment', function () {
      const scopes = ['patient/*.cruds'];
      assert.equal(smartAccess(scopes, OBS_READ, undefined), false);
      assert.equal(smartAccess(scopes, { ...OBS_READ, patientId: '' }, ''), false);
      assert.equal(smartAccess(scopes, { resourceType: 'Observation', interaction: 'r' }, '123'), false);
    });

    it('user/ scopes reach any compartment, and resources outside one', function () {
      const scopes = ['user/Observation.rs'];
      assert.equal(smartAccess(scopes, { ...OBS_READ, patientId: '456' }, '123'), true);
      assert.equal(smartAccess(scopes, { ...OBS_READ, patientId: undefined }, undefined), true);
    });

    it('system/ scopes reach everything', function () {
      for (const patientId of ['123', '456', undefined]) {
        assert.equal(smartAccess(['system/*.read'], { ...OBS_READ, patientId }, '123'), true);
        assert.equal(smartAccess(['system/*.read'], { ...OBS_READ, patientId }, undefined), true);
      }
    });
  });

  describe('smartAccess: unreadable scopes never widen access', function () {
    it('ignores them next to a readable one', function () {
      const junk = [
        'openid',
        'fhirUser',
        'launch/patient',
        'patient/observation.read',
        'system/*.sr',
        'Patient/*.*',
      ];
      assert.equal(smartAccess(junk, OBS_READ, '123'), false);
      assert.equal(smartAccess([...junk, 'patient/Observation.r'], OBS_READ, '123'), false);
      assert.equal(smartAccess([...junk, 'patient/Observation.rs'], OBS_READ, '123'), true);
    });

    it('ignores a v1 scope with parameters rather than dropping them', function () {
      assert.equal(smartAccess(['system/Observation.read?category=laboratory'], OBS_READ, undefined), false);
    });
  });

  describe('smartAccess: v2 search-parameter constraints', function () {
    const scopes = ['patient/Observation.rs?category=laboratory'];

    it('grant requests whose query carries the pair', function () {
      const request = { ...OBS_READ, query: { patient: '123', category: 'laboratory', code: 'x' } };
      assert.equal(smartAccess(scopes, request, '123'), true);
    });

    it('grant nothing to requests without it, or with another value', function () {
      const queries: (Record<string, string> | undefined)[] = [
        undefined,
        {},
        { category: 'vital-signs' },
        { category: 'Laboratory' },
        { Category: 'laboratory' },
      ];
      for (const query of queries) {
        assert.equal(smartAccess(scopes, { ...OBS_READ, query }, '123'), false, JSON.stringify(query));
      }
    });

    it('need every pair of the scope', function () {
      const both = ['user/Observation.rs?category=laboratory&status=final'];
      assert.equal(smartAccess(both, { ...OBS_READ, query: { category: 'laboratory' } }, undefined), false);
      assert.equal(
        smartAccess(both, { ...OBS_READ, query: { category: 'laboratory', status: 'final' } }, undefined),
        true,
      );
    });

    it('compare decoded values, and only own query properties', function () {
      const coded = ['user/Observation.rs?code=a%7Cb'];
      assert.equal(smartAccess(coded, { ...OBS_READ, query: { code: 'a|b' } }, undefined), true);
      const proto = ['user/Observation.rs?toString=x'];
      assert.equal(smartAccess(proto, { ...OBS_READ, query: {} }, undefined), false);
    });

    it('still honour the patient compartment', function () {
      const request = { ...OBS_READ, patientId: '456', query: { category: 'laboratory' } };
      assert.equal(smartAccess(scopes, request, '123'), false);
    });
  });

  describe('smartChallengeScope', function () {
    it('names the least-privileged v2 scope for the request', function () {
      assert.equal(smartChallengeScope(OBS_READ), 'patient/Observation.rs');
      assert.equal(
        smartChallengeScope({ resourceType: 'Observation', interaction: 'write' }),
        'user/Observation.cud',
      );
      assert.equal(
        smartChallengeScope({ resourceType: 'Patient', interaction: 'u', patientId: '1' }),
        'patient/Patient.u',
      );
    });
  });

  describe('smartPatient / requireSmartAccess', function () {
    it('reads the launch patient from a non-empty string patient claim only', function () {
      assert.equal(smartPatient(principal('x', { patient: '123' })), '123');
      for (const patient of [undefined, '', 123, ['123'], { id: '123' }]) {
        assert.equal(smartPatient(principal('x', { patient })), undefined);
      }
    });

    it('returns when granted', function () {
      requireSmartAccess(principal('launch/patient patient/Observation.rs', { patient: '123' }), OBS_READ);
    });

    it('throws 403 insufficient_scope naming the scope, without a realm', function () {
      const error = assertBearerError(
        thrown(() => {
          requireSmartAccess(principal('patient/Observation.rs', { patient: '123' }), {
            ...OBS_READ,
            patientId: '456',
          });
        }),
        'ERR_BEARER_INSUFFICIENT_SCOPE',
        403,
      );
      assert.ok(error instanceof BearerGuardError);
      assert.equal(error.scope, 'patient/Observation.rs');
      assert.equal(error.realm, undefined);
    });

    it('denies a patient/ scope when the token has no patient claim', function () {
      assertBearerError(
        thrown(() => {
          requireSmartAccess(principal('patient/*.cruds'), OBS_READ);
        }),
        'ERR_BEARER_INSUFFICIENT_SCOPE',
      );
    });
  });

  describe('requiredSmartAccess (construction)', function () {
    it('accepts a resource type and each interaction', function () {
      for (const interaction of ['read', 'write', 'c', 'r', 'u', 'd', 's']) {
        assert.deepEqual(requiredSmartAccess('f', 'Observation', interaction), {
          resourceType: 'Observation',
          interaction,
        });
      }
    });

    for (const resourceType of ['*', '', 'observation', 'O', 'Observation/1', 42, undefined]) {
      it(`refuses resource type ${label(resourceType)}`, function () {
        assertConfigError(
          thrown(() => requiredSmartAccess('f', resourceType, 'read')),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          'f()',
        );
      });
    }

    for (const interaction of ['rs', 'cruds', '*', 'READ', 'search', '', 'constructor', 1, undefined]) {
      it(`refuses interaction ${label(interaction)}`, function () {
        assertConfigError(
          thrown(() => requiredSmartAccess('f', 'Observation', interaction)),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          "'read', 'write'",
        );
      });
    }
  });
});
