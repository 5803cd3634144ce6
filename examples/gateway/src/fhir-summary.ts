/**
 * Shapes the backends' answers into the parts of a patient summary. Each function returns
 * `undefined` for an answer it cannot use, which the merge counts as that backend's `error`.
 */

/** The FHIR R4 Patient, reduced to what a summary shows. */
export interface PatientSummary {
  id: string;
  name?: string;
  gender?: string;
  birthDate?: string;
}

/** A FHIR R4 Observation, reduced to what a summary shows. */
export interface ObservationSummary {
  id?: string;
  status?: string;
  code?: string;
  value?: number | string | boolean;
  unit?: string;
  effective?: string;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);

/** A HumanName as one line: its `text`, else given names then family (FHIR R4 §2.24.0.9). */
function displayName(names: unknown): string | undefined {
  const all = list(names).filter(isObject);
  const name = all.find((entry) => entry['use'] === 'official') ?? all[0];
  if (name === undefined) return undefined;
  const written = text(name['text']);
  if (written !== undefined) return written;
  const parts = [...list(name['given']), name['family']].filter((part) => typeof part === 'string');
  return parts.length === 0 ? undefined : parts.join(' ');
}

/** Keep only the members that are set, so the JSON has no `undefined` holes. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}

/** A `Patient` resource whose `id` is the one asked for; anything else is unusable. */
export function toPatientSummary(body: unknown, id: string): PatientSummary | undefined {
  if (!isObject(body) || body['resourceType'] !== 'Patient' || body['id'] !== id) return undefined;
  return defined({
    id,
    name: displayName(body['name']),
    gender: text(body['gender']),
    birthDate: text(body['birthDate']),
  });
}

/** A CodeableConcept as a label: its `text`, else the first coding's `display` or `code`. */
function conceptLabel(concept: unknown): string | undefined {
  if (!isObject(concept)) return undefined;
  const coding = list(concept['coding']).find(isObject);
  return text(concept['text']) ?? text(coding?.['display']) ?? text(coding?.['code']);
}

function observationValue(resource: Json): Pick<ObservationSummary, 'value' | 'unit'> {
  const quantity = resource['valueQuantity'];
  if (isObject(quantity) && typeof quantity['value'] === 'number') {
    return { value: quantity['value'], unit: text(quantity['unit']) ?? text(quantity['code']) };
  }
  for (const key of ['valueString', 'valueBoolean', 'valueInteger', 'valueDateTime'] as const) {
    const value = resource[key];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      return { value };
  }
  const concept = conceptLabel(resource['valueCodeableConcept']);
  return concept === undefined ? {} : { value: concept };
}

/** A `searchset` Bundle of Observations (other resources in it, e.g. OperationOutcome, are skipped). */
export function toObservations(body: unknown): ObservationSummary[] | undefined {
  if (!isObject(body) || body['resourceType'] !== 'Bundle') return undefined;
  return list(body['entry'])
    .map((entry) => (isObject(entry) ? entry['resource'] : undefined))
    .filter((resource): resource is Json => isObject(resource) && resource['resourceType'] === 'Observation')
    .map((resource) =>
      defined({
        id: text(resource['id']),
        status: text(resource['status']),
        code: conceptLabel(resource['code']),
        ...observationValue(resource),
        effective: text(resource['effectiveDateTime']) ?? text(resource['issued']),
      }),
    );
}

/** The orders service's list: a JSON array, or an object with an `orders` array. */
export function toOrders(body: unknown): unknown[] | undefined {
  if (Array.isArray(body)) return body as unknown[];
  if (isObject(body) && Array.isArray(body['orders'])) return body['orders'] as unknown[];
  return undefined;
}
