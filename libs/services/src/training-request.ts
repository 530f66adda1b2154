import {
  DATASET_NAME_PATTERN,
  MODEL_NAME_PATTERN,
  TRAINING_ARCHITECTURES,
  type DatasetPrivacy,
  type TrainingData,
  type TrainingHyperParameters,
  type TrainingLineage,
  type TrainingRequest,
} from '@yunbian/contracts';
import { DIGITS_SPLIT, edgeShare, resolveShift, shiftIssues, type SiteShift } from '@yunbian/learning';

/** One problem with a training request: where (a JSON pointer) and what. */
export interface TrainingIssue {
  pointer: string;
  message: string;
}

const DIGITS_PARTS = Object.keys(DIGITS_SPLIT) as (keyof typeof DIGITS_SPLIT)[];

/** The request's JSON Schema (the service's input): shapes only; `trainingRequestIssues` checks the rest. */
export const TRAINING_REQUEST_SCHEMA = {
  type: 'object',
  required: ['training', 'validation', 'register'],
  additionalProperties: false,
  properties: {
    base: { type: 'string', description: 'a registered version to fine-tune: name@version, or name for its latest' },
    architecture: {
      oneOf: [
        { enum: [...TRAINING_ARCHITECTURES] },
        {
          type: 'object',
          required: ['conv', 'dense'],
          additionalProperties: false,
          properties: {
            conv: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 256 }, minItems: 1, maxItems: 3 },
            dense: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 4096 }, maxItems: 3 },
          },
        },
      ],
    },
    training: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'object' } },
    validation: { type: 'object' },
    hyperParameters: {
      type: 'object',
      additionalProperties: false,
      properties: {
        epochs: { type: 'integer', minimum: 0, maximum: 200 },
        learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        batchSize: { type: 'integer', minimum: 1, maximum: 4096 },
        seed: { type: 'integer', minimum: 0 },
        tail: {
          type: 'object',
          required: ['epochs', 'learningRate'],
          additionalProperties: false,
          properties: {
            epochs: { type: 'integer', minimum: 0, maximum: 200 },
            learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
          },
        },
      },
    },
    register: { type: 'string', pattern: MODEL_NAME_PATTERN.source },
    checkpointKey: { type: 'string', minLength: 1, maxLength: 200 },
    checkpointDomain: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
  },
} as const;

/** Digits of the built-in split, resolved: absolute range, shift, tier, a label for the lineage. */
export interface ResolvedDigits {
  from: number;
  to: number;
  shift?: SiteShift;
  shiftName?: string;
  privacy: DatasetPrivacy;
  label: string;
}

/** The hyper-parameters with their defaults. */
export function hyperParameters(given: TrainingHyperParameters = {}): TrainingLineage['hyperParameters'] {
  return {
    epochs: given.epochs ?? 3,
    learningRate: given.learningRate ?? 1e-3,
    batchSize: given.batchSize ?? 64,
    seed: given.seed ?? 1,
    ...(given.tail ? { tail: given.tail } : {}),
  };
}

/** `name` or `name@version` → its parts, or undefined when it is neither. */
export function parseModelRef(ref: string): { name: string; version?: number } | undefined {
  const [name, version, extra] = ref.split('@');
  if (extra !== undefined || !MODEL_NAME_PATTERN.test(name)) return undefined;
  if (version === undefined) return { name };
  const v = Number(version);
  return Number.isInteger(v) && v >= 1 && String(v) === version ? { name, version: v } : undefined;
}

/** A digits reference resolved to absolute positions, or the problems with it (pointers under `at`). */
export function resolveDigitsData(
  ref: Extract<TrainingData, { digits: unknown }>['digits'],
  at: string,
): ResolvedDigits | TrainingIssue[] {
  const issues: TrainingIssue[] = [];
  if (!DIGITS_PARTS.includes(ref.part as (typeof DIGITS_PARTS)[number])) {
    return [
      { pointer: `${at}/part`, message: `must be one of ${DIGITS_PARTS.join(', ')} (got ${JSON.stringify(ref.part)})` },
    ];
  }
  const part = DIGITS_SPLIT[ref.part];
  const size = part.to - part.from;
  let from: number = part.from;
  let to: number = part.to;
  if (ref.share !== undefined) {
    if (ref.from !== undefined || ref.to !== undefined)
      issues.push({ pointer: `${at}/share`, message: 'give either share or from/to, not both' });
    const { index, of } = ref.share ?? {};
    if (!Number.isInteger(of) || of! < 1 || of! > 100 || !Number.isInteger(index) || index! < 0 || index! >= of!) {
      issues.push({
        pointer: `${at}/share`,
        message: `must be { index, of } with whole numbers 0 ≤ index < of ≤ 100 (got ${JSON.stringify(ref.share)})`,
      });
    } else if (ref.part !== 'edge') {
      issues.push({ pointer: `${at}/share`, message: `shares divide the edge part among sites, not ${ref.part}` });
    } else ({ from, to } = edgeShare(index!, of!));
  } else {
    const f = ref.from ?? 0;
    const t = ref.to ?? size;
    if (!Number.isInteger(f) || !Number.isInteger(t) || f < 0 || t > size || f >= t) {
      issues.push({
        pointer: `${at}/from`,
        message: `from and to must select 0 ≤ from < to ≤ ${size} within the ${ref.part} part (got from ${ref.from ?? 0}, to ${ref.to ?? size})`,
      });
    }
    from = part.from + f;
    to = part.from + t;
  }
  let shift: SiteShift | undefined;
  if (ref.shift !== undefined) {
    const problems = shiftIssues(ref.shift);
    if (problems.length) issues.push(...problems.map((message) => ({ pointer: `${at}/shift`, message })));
    else shift = resolveShift(ref.shift as string);
  }
  if (issues.length) return issues;
  const shiftName = typeof ref.shift === 'string' ? ref.shift : undefined;
  const shiftText = shift ? ` shift ${shiftName ?? JSON.stringify(shift)}` : '';
  return {
    from,
    to,
    ...(shift ? { shift } : {}),
    ...(shiftName ? { shiftName } : {}),
    // The edge pool is the sites' private data; the public pool and the held-out set are public.
    privacy: ref.part === 'edge' ? 'edge-private' : 'public',
    label: `digits ${ref.part} [${from}, ${to})${shiftText}`,
  };
}

/**
 * Everything wrong with a request the schema let through: base xor architecture, model
 * references, data references (a registered dataset's name, or digits ranges and shifts).
 */
export function trainingRequestIssues(request: TrainingRequest): TrainingIssue[] {
  const issues: TrainingIssue[] = [];
  if ((request.base === undefined) === (request.architecture === undefined)) {
    issues.push({
      pointer: '/base',
      message: `give exactly one of base (a registered name[@version] to fine-tune) or architecture (${TRAINING_ARCHITECTURES.join(', ')}, or { conv, dense })`,
    });
  }
  if (request.base !== undefined && !parseModelRef(request.base))
    issues.push({ pointer: '/base', message: `"${request.base}" is not name or name@version (version ≥ 1)` });
  const data = (ref: TrainingData, at: string) => {
    if (ref && typeof ref === 'object' && 'samples' in ref) {
      const spec = ref.samples as { dataset?: unknown; site?: unknown; labels?: unknown } | undefined;
      if (!spec || typeof spec.dataset !== 'string' || !DATASET_NAME_PATTERN.test(spec.dataset))
        issues.push({
          pointer: `${at}/samples/dataset`,
          message: 'must name a collection (a tiered step\'s collect.dataset: 1-128 letters, digits, "_" or "-")',
        });
      if (spec?.site !== undefined && (typeof spec.site !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(spec.site)))
        issues.push({ pointer: `${at}/samples/site`, message: 'must be the name of the site whose collection it is' });
      if (spec?.labels !== undefined && spec.labels !== 'true' && spec.labels !== 'true-or-pseudo')
        issues.push({ pointer: `${at}/samples/labels`, message: 'must be "true" or "true-or-pseudo" (the default)' });
      return;
    }
    if (ref && typeof ref === 'object' && 'dataset' in ref && !('digits' in ref)) {
      if (typeof ref.dataset !== 'string' || !DATASET_NAME_PATTERN.test(ref.dataset))
        issues.push({
          pointer: `${at}/dataset`,
          message: 'must be a registered dataset name (1-128 letters, digits, "_" or "-")',
        });
      return;
    }
    if (
      ref &&
      typeof ref === 'object' &&
      'digits' in ref &&
      !('dataset' in ref) &&
      ref.digits &&
      typeof ref.digits === 'object'
    ) {
      const resolved = resolveDigitsData(ref.digits, `${at}/digits`);
      if (Array.isArray(resolved)) issues.push(...resolved);
      return;
    }
    issues.push({
      pointer: at,
      message:
        'must be { dataset: <registered name> }, { samples: { dataset: <collection>, site? } } or { digits: { part, from?, to?, share?, shift? } }',
    });
  };
  request.training.forEach((ref, i) => data(ref, `/training/${i}`));
  data(request.validation, '/validation');
  const hp = hyperParameters(request.hyperParameters);
  if (hp.epochs + (hp.tail?.epochs ?? 0) === 0)
    issues.push({ pointer: '/hyperParameters/epochs', message: 'at least one epoch (epochs + tail.epochs) is needed' });
  return issues;
}

/**
 * The checkpoint key of a call: the request's own, else the engine's idempotency key
 * (`run:step:attempt`, `run:step[i]:attempt`) without its attempt — a lost worker's step comes
 * back as a new attempt with a new key, and must find the checkpoint the old one wrote.
 */
export function checkpointKeyOf(
  request: Pick<TrainingRequest, 'checkpointKey'>,
  idempotencyKey?: string,
): string | undefined {
  if (request.checkpointKey) return request.checkpointKey;
  if (!idempotencyKey) return undefined;
  const cut = idempotencyKey.lastIndexOf(':');
  return cut > 0 && /^\d+$/.test(idempotencyKey.slice(cut + 1)) ? idempotencyKey.slice(0, cut) : idempotencyKey;
}
