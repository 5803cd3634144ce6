/** In-memory demo data: two patients, a few Observations each. Frozen; never written. */

export interface Coding {
  readonly system: string;
  readonly code: string;
  readonly display?: string;
}

export interface Patient {
  readonly resourceType: 'Patient';
  readonly id: string;
  readonly name: readonly { readonly family: string; readonly given: readonly string[] }[];
  readonly gender: 'female' | 'male' | 'other' | 'unknown';
  readonly birthDate: string;
}

export interface Observation {
  readonly resourceType: 'Observation';
  readonly id: string;
  readonly status: 'final';
  readonly category: readonly { readonly coding: readonly Coding[] }[];
  readonly code: { readonly coding: readonly Coding[]; readonly text: string };
  readonly subject: { readonly reference: string };
  readonly effectiveDateTime: string;
  readonly valueQuantity: {
    readonly value: number;
    readonly unit: string;
    readonly system: string;
    readonly code: string;
  };
}

export type Resource = Patient | Observation;

const CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

const CATEGORIES = {
  'vital-signs': { system: CATEGORY_SYSTEM, code: 'vital-signs', display: 'Vital Signs' },
  laboratory: { system: CATEGORY_SYSTEM, code: 'laboratory', display: 'Laboratory' },
} as const;

const deepFreeze = <T>(value: T): T => {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
};

const patient = (
  id: string,
  family: string,
  given: string[],
  gender: Patient['gender'],
  birthDate: string,
): Patient => ({ resourceType: 'Patient', id, name: [{ family, given }], gender, birthDate });

function observation(
  id: string,
  patientId: string,
  category: keyof typeof CATEGORIES,
  loinc: [code: string, display: string],
  value: [value: number, unit: string, ucum: string],
  effectiveDateTime: string,
): Observation {
  const [code, display] = loinc;
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [{ coding: [CATEGORIES[category]] }],
    code: { coding: [{ system: LOINC, code, display }], text: display },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime,
    valueQuantity: { value: value[0], unit: value[1], system: UCUM, code: value[2] },
  };
}

export const PATIENTS: readonly Patient[] = deepFreeze([
  patient('123', 'Shaw', ['Amy', 'V.'], 'female', '1987-02-20'),
  patient('456', 'Okafor', ['Daniel'], 'male', '1975-11-03'),
]);

export const OBSERVATIONS: readonly Observation[] = deepFreeze([
  observation(
    'obs-123-hr',
    '123',
    'vital-signs',
    ['8867-4', 'Heart rate'],
    [72, 'beats/minute', '/min'],
    '2025-02-01T08:15:00Z',
  ),
  observation(
    'obs-123-wt',
    '123',
    'vital-signs',
    ['29463-7', 'Body weight'],
    [65.2, 'kg', 'kg'],
    '2025-02-01T08:16:00Z',
  ),
  observation(
    'obs-123-hgb',
    '123',
    'laboratory',
    ['718-7', 'Hemoglobin [Mass/volume] in Blood'],
    [13.4, 'g/dL', 'g/dL'],
    '2025-02-03T10:00:00Z',
  ),
  observation(
    'obs-456-hr',
    '456',
    'vital-signs',
    ['8867-4', 'Heart rate'],
    [78, 'beats/minute', '/min'],
    '2025-02-05T14:30:00Z',
  ),
  observation(
    'obs-456-glu',
    '456',
    'laboratory',
    ['2339-0', 'Glucose [Mass/volume] in Blood'],
    [95, 'mg/dL', 'mg/dL'],
    '2025-02-06T07:45:00Z',
  ),
]);

/** The patient id an Observation belongs to (its `subject`), for the patient-compartment check. */
export function observationPatient(resource: Observation): string | undefined {
  const { reference } = resource.subject;
  return reference.startsWith('Patient/') ? reference.slice('Patient/'.length) : undefined;
}
