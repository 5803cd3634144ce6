import { authorizeChannel, publishAuthorization } from './diagnostics.js';
import { BearerGuardError, ConfigurationError } from './errors.js';
import type { Principal } from './principal.js';

/** Whose data a SMART scope reaches: the launch patient's, the user's, or the whole system's. */
export type SmartContext = 'patient' | 'user' | 'system';

/** A SMART v2 interaction letter: create, read, update, delete, search. */
export type SmartInteraction = 'c' | 'r' | 'u' | 'd' | 's';

/** What a request does: one v2 letter, or a v1 name (`read` = `r` + `s`, `write` = `c` + `u` + `d`). */
export type SmartRequestInteraction = SmartInteraction | 'read' | 'write';

/** One parsed SMART clinical-data scope, such as `patient/Observation.rs?category=laboratory`. */
export interface SmartScope {
  readonly context: SmartContext;
  /** A FHIR resource type (`Observation`) or `*` for every type. */
  readonly resourceType: string;
  /** The interactions granted; v1 names are expanded (`read` → `r`, `s`). */
  readonly interactions: ReadonlySet<SmartInteraction>;
  /** v2 search-parameter constraints, decoded, in scope order; empty when unconstrained. */
  readonly parameters: readonly (readonly [string, string])[];
  /** `1` for `.read` / `.write` / `.*`, `2` for `cruds` letters. */
  readonly version: 1 | 2;
}

/** The request to authorize, as the resource server sees it. */
export interface SmartRequest {
  /** The FHIR resource type the request touches, e.g. `Observation`. */
  readonly resourceType: string;
  readonly interaction: SmartRequestInteraction;
  /**
   * The id of the patient whose compartment the resource belongs to, if any. Only `patient/` scopes
   * look at it; leave it `undefined` when unknown, and `patient/` scopes grant nothing.
   */
  readonly patientId?: string | undefined;
  /** The request's query, one string per name, for v2 search-parameter constraints. */
  readonly query?: Readonly<Record<string, string>> | undefined;
}

// SMART App Launch 2.x: `<context>/<type>.<permissions>`. Letters must appear in `cruds` order
// (`sr` is not a v2 scope), and v1 names are exact: scopes are case-sensitive (RFC 6749 §3.3).
const SMART_SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(?:\?(.*))?$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]+$/;
const LETTERS: readonly SmartInteraction[] = ['c', 'r', 'u', 'd', 's'];
const V1: ReadonlyMap<string, readonly SmartInteraction[]> = new Map([
  ['read', ['r', 's']],
  ['write', ['c', 'u', 'd']],
  ['*', ['c', 'r', 'u', 'd', 's']],
]);
// A Map, not an object literal: `interaction` may come from JavaScript, and `'constructor'` must not resolve.
const NEEDED: ReadonlyMap<string, readonly SmartInteraction[]> = new Map<string, readonly SmartInteraction[]>(
  [['read', ['r', 's']], ['write', ['c', 'u', 'd']], ...LETTERS.map((letter) => [letter, [letter]] as const)],
);

/** `category=laboratory&code=x` as decoded pairs; `undefined` for anything but non-empty `name=value` pairs. */
function parseParameters(query: string): [string, string][] | undefined {
  const pairs: [string, string][] = [];
  for (const raw of query.split('&')) {
    if (!raw.includes('=')) return undefined;
    const [entry] = new URLSearchParams(raw);
    if (entry === undefined || entry[0] === '' || entry[1] === '') return undefined;
    pairs.push(entry);
  }
  return pairs;
}

/**
 * Parse one SMART clinical-data scope: v1 `patient|user|system/<Type|*>.<read|write|*>` or v2
 * `…/<Type|*>.<cruds subset, in that order>`, the v2 form optionally followed by `?name=value&…`
 * search-parameter constraints. v1 names are expanded: `read` = `rs`, `write` = `cud`, `*` = `cruds`.
 *
 * Returns `undefined` for everything else, including other SMART scopes (`launch/patient`, `openid`,
 * `fhirUser`, `offline_access`), wrong case (`Patient/…`, `patient/observation.read`, `.READ`),
 * letters out of order (`.sr`), an empty permission (`patient/*.`), v1 names with parameters and
 * parameters that are not `name=value`. Callers ignore those: an unreadable scope never grants access.
 *
 * @example parseSmartScope('patient/Observation.rs') // { context: 'patient', resourceType: 'Observation', interactions: {r, s}, version: 2, … }
 * @see SMART App Launch 2.x §Scopes for requesting clinical data ("…FHIR Resources" since 2.2),
 *   https://hl7.org/fhir/smart-app-launch/STU2/scopes-and-launch-context.html#scopes-for-requesting-clinical-data
 * @see RFC 6749 §3.3 (scope tokens are case-sensitive)
 */
export function parseSmartScope(scope: string): SmartScope | undefined {
  const match = SMART_SCOPE.exec(scope);
  if (match === null) return undefined;
  const [, context, resourceType, permissions = '', query] = match;
  const v1 = V1.get(permissions);
  // v1 scopes had no parameters: reading `.read?x=y` as either form would be a guess.
  if (permissions === '' || (v1 !== undefined && query !== undefined)) return undefined;
  const parameters = query === undefined ? [] : parseParameters(query);
  if (parameters === undefined) return undefined;
  return {
    context: context as SmartContext,
    resourceType: resourceType ?? '',
    interactions: new Set(v1 ?? LETTERS.filter((letter) => permissions.includes(letter))),
    parameters,
    version: v1 === undefined ? 2 : 1,
  };
}

function grants(
  scope: SmartScope,
  letter: SmartInteraction,
  request: SmartRequest,
  tokenPatient: string | undefined,
): boolean {
  if (!scope.interactions.has(letter)) return false;
  if (scope.resourceType !== '*' && scope.resourceType !== request.resourceType) return false;
  // A patient/ scope reaches only the launch patient's compartment; no launch patient, no access.
  if (scope.context === 'patient' && (tokenPatient === undefined || request.patientId !== tokenPatient)) {
    return false;
  }
  // Every constraint must be met by the request itself: the resource server cannot tell from here
  // whether a read by id falls inside `category=laboratory`, so a constrained scope never covers it.
  const { query } = request;
  return scope.parameters.every(
    ([name, value]) => query !== undefined && Object.hasOwn(query, name) && query[name] === value,
  );
}

/**
 * Whether `scopes` grant `request`. Each interaction the request needs (`read` needs both `r` and `s`,
 * `write` needs `c`, `u` and `d`) must be granted by some SMART scope, on the resource type or `*`:
 *
 * - `patient/` scopes reach only resources in the compartment of `tokenPatient`, the token's launch
 *   patient: `request.patientId` must equal it. Without a launch patient they grant nothing.
 * - `user/` scopes reach any compartment. They stand for "what this user may see": the resource server's
 *   own per-user policy (which patients this clinician may open) still applies and is not checked here.
 * - `system/` scopes reach everything.
 * - v2 search-parameter constraints (`?category=laboratory`) grant only requests whose `query` carries
 *   every listed `name=value` pair exactly (decoded, case-sensitive); a request without them is not granted.
 *
 * Scopes that do not parse ({@link parseSmartScope}) are ignored, as is a request with a malformed
 * resource type or interaction: nothing unreadable widens access. This does NOT check `_include`,
 * `_revinclude` or other parameters that pull in further resources; the FHIR server must filter those.
 *
 * @see SMART App Launch 2.x §Scopes for requesting clinical data
 * @see RFC 6749 §3.3
 */
export function smartAccess(
  scopes: readonly string[],
  request: SmartRequest,
  tokenPatient: string | undefined,
): boolean {
  const needed = NEEDED.get(request.interaction);
  if (needed === undefined || !RESOURCE_TYPE.test(request.resourceType)) return false;
  const patient = tokenPatient === '' ? undefined : tokenPatient;
  const parsed = scopes.map(parseSmartScope).filter((scope) => scope !== undefined);
  return needed.every((letter) => parsed.some((scope) => grants(scope, letter, request, patient)));
}

/**
 * The scope named in the 403 challenge for `request`: the least-privileged SMART v2 scope that grants
 * it. `patient/<Type>.<letters>` when the request has a patient compartment, `user/<Type>.<letters>`
 * otherwise; letters as {@link smartAccess} needs them (`read` → `rs`, `write` → `cud`).
 *
 * @see RFC 6750 §3 (`scope` attribute)
 */
export function smartChallengeScope(
  request: Pick<SmartRequest, 'resourceType' | 'interaction' | 'patientId'>,
): string {
  const letters = (NEEDED.get(request.interaction) ?? []).join('');
  const context = request.patientId === undefined ? 'user' : 'patient';
  return `${context}/${request.resourceType}.${letters}`;
}

/** The token's launch patient: SMART's `patient` claim (token response / introspection), if a non-empty string. */
export function smartPatient(principal: Principal): string | undefined {
  const patient = principal.claims['patient'];
  return typeof patient === 'string' && patient !== '' ? patient : undefined;
}

/**
 * Throw 403 `insufficient_scope` unless the principal's scopes grant `request` ({@link smartAccess}),
 * with the launch patient read from the `patient` claim. The error's `scope` is
 * {@link smartChallengeScope}. It has no `realm`: the caller (an adapter) sets the guard's.
 *
 * @see SMART App Launch 2.x §Scopes for requesting clinical data
 * @see RFC 6750 §3.1 (`insufficient_scope`)
 */
export function requireSmartAccess(principal: Principal, request: SmartRequest): void {
  const refusal = smartAccess(principal.scopes, request, smartPatient(principal))
    ? undefined
    : new BearerGuardError('ERR_BEARER_INSUFFICIENT_SCOPE', { scope: smartChallengeScope(request) });
  if (authorizeChannel.hasSubscribers) publishAuthorization('smart-scope', refusal);
  if (refusal !== undefined) throw refusal;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : value === null ? 'null' : typeof value;
}

/**
 * Validate a route's SMART requirement at construction: a concrete FHIR resource type (not `*`) and
 * one interaction. Throws `ConfigurationError` naming `caller` otherwise.
 */
export function requiredSmartAccess(
  caller: string,
  resourceType: unknown,
  interaction: unknown,
): { resourceType: string; interaction: SmartRequestInteraction } {
  if (typeof resourceType !== 'string' || !RESOURCE_TYPE.test(resourceType)) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      `bearer-guard: ${caller}() needs a FHIR resource type such as 'Observation' (an upper-case letter, then ` +
        `letters); got ${describe(resourceType)}. Use one guard per resource type.`,
    );
  }
  if (typeof interaction !== 'string' || !NEEDED.has(interaction)) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      `bearer-guard: ${caller}() got interaction ${describe(interaction)}; ` +
        `use one of 'read', 'write', 'c', 'r', 'u', 'd', 's', e.g. ${caller}('${resourceType}', 'read').`,
    );
  }
  return { resourceType, interaction: interaction as SmartRequestInteraction };
}
