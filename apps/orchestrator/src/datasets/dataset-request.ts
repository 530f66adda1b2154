import { DATASET_NAME_PATTERN, DATASET_PRIVACY_TIERS, type DatasetPrivacy } from '@yunbian/contracts';

/** The project's digits split (as in `@yunbian/learning`'s DIGITS_SPLIT), by part. */
export const DIGITS_PARTS = { public: [0, 6_000], edge: [6_000, 8_000], heldOut: [8_000, 10_000] } as const;
export type DigitsPartName = keyof typeof DIGITS_PARTS;

/** `POST /datasets` with a JSON body: register a range of the project's digits split. */
export const REGISTER_DIGITS_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'part'],
  properties: {
    source: { enum: ['digits'], description: "the project's split of the mnist digits (the only built-in source)" },
    part: { enum: Object.keys(DIGITS_PARTS), description: 'public 0–5,999, edge 6,000–7,999, heldOut 8,000–9,999' },
    name: { type: 'string', pattern: DATASET_NAME_PATTERN.source, description: 'default digits-<part>[-<from>-<to>]' },
    from: { type: 'integer', minimum: 0, description: 'first sample within the part (default 0)' },
    to: { type: 'integer', minimum: 1, description: 'one past the last sample within the part (default its end)' },
    labelled: { type: 'boolean', default: true, description: 'false stores the images only (an unlabelled set)' },
    privacy: { enum: [...DATASET_PRIVACY_TIERS], description: 'default public, edge-private for the edge part' },
    description: { type: 'string', maxLength: 500 },
  },
} as const;

export interface RegisterDigitsBody {
  source: 'digits';
  part: DigitsPartName;
  name?: string;
  from?: number;
  to?: number;
  labelled: boolean;
  privacy?: DatasetPrivacy;
  description?: string;
}

/** The resolved range, name and tier of a digits registration, or the problem with it. */
export function resolveDigits(
  body: RegisterDigitsBody,
): { name: string; from: number; to: number; privacy: DatasetPrivacy } | { problem: string } {
  const [start, end] = DIGITS_PARTS[body.part];
  const size = end - start;
  const from = body.from ?? 0;
  const to = body.to ?? size;
  if (to > size || from >= to) {
    return {
      problem: `/from and /to must select 0 ≤ from < to ≤ ${size} within the ${body.part} part (got from ${from}, to ${to})`,
    };
  }
  const whole = from === 0 && to === size;
  return {
    name: body.name ?? `digits-${body.part}${whole ? '' : `-${from}-${to}`}${body.labelled ? '' : '-unlabelled'}`,
    from: start + from,
    to: start + to,
    privacy: body.privacy ?? (body.part === 'edge' ? 'edge-private' : 'public'),
  };
}

export interface UploadQuery {
  name?: string;
  privacy?: string;
  shape?: string;
  labelled?: string;
  description?: string;
}

/** The query of a raw upload (`?name=&privacy=&shape=1,28,28&labelled=true`), checked; problems name the parameter. */
export function parseUploadQuery(
  q: UploadQuery,
):
  | { name: string; privacy: DatasetPrivacy; shape: number[]; labelled: boolean; description?: string }
  | { problem: string } {
  if (!q.name || !DATASET_NAME_PATTERN.test(q.name))
    return {
      problem: `?name= ${q.name ? `"${q.name}" is invalid` : 'is missing'}: use 1-128 letters, digits, "_" or "-"`,
    };
  const privacy = (q.privacy ?? 'public') as DatasetPrivacy;
  if (!DATASET_PRIVACY_TIERS.includes(privacy))
    return { problem: `?privacy= must be one of ${DATASET_PRIVACY_TIERS.join(', ')} (got "${q.privacy}")` };
  if (!q.shape) return { problem: '?shape= is missing: give the shape of one sample, e.g. shape=1,28,28' };
  const shape = q.shape.split(',').map((d) => Number(d.trim()));
  if (shape.length === 0 || shape.length > 8 || shape.some((d) => !Number.isInteger(d) || d < 1))
    return { problem: `?shape= must be 1-8 positive integers separated by commas, e.g. 1,28,28 (got "${q.shape}")` };
  const labelled = q.labelled ?? 'true';
  if (labelled !== 'true' && labelled !== 'false')
    return { problem: `?labelled= must be true or false (got "${labelled}")` };
  return {
    name: q.name,
    privacy,
    shape,
    labelled: labelled === 'true',
    ...(q.description ? { description: q.description } : {}),
  };
}
