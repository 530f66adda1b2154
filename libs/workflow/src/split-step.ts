import type { AttemptPurpose } from './run';
import type { StepDefinition } from './definition';

/**
 * A split step: one inference of a registered model cut in two, the head on the first node
 * (where the data is), the tail on the second, the tensors crossing the cut sent between them.
 * The cut is chosen per attempt from the version's profiles and the link as measured then.
 */
export interface SplitStep {
  /** `name@version` of a registered ONNX model (an exact version: the cut is per version). */
  model: string;
  /** Where the head runs, then where the tail runs: node ids or tiers (device, edge, cloud). */
  between: [string, string];
  /** Default false; float16 / int8 narrow the float32 cut tensors (the plan states the cost). */
  lossy?: false | 'float16' | 'int8';
  /** Default latency. */
  objective?: 'latency' | 'throughput';
  /** The link to plan for instead of the measured one (a declared link, or a what-if). */
  link?: { rttMs: number; mbps: number };
  /** A cut id to run instead of the chosen one (benchmarks, pinning a known-good cut). */
  cut?: string;
}

/** What a step's attempts are: a service call, a sub-workflow run, or a split inference. */
export type StepKind = 'service' | 'workflow' | 'split';

/** The kind of an attempt of `step` with `purpose` (escalations and fallbacks are service calls). */
export function stepKind(step: StepDefinition, purpose: AttemptPurpose): StepKind {
  if (purpose !== 'primary') return 'service';
  return step.workflow ? 'workflow' : step.split ? 'split' : 'service';
}

/** The primary target of a step: its service, workflow, or the split model. */
export function primaryTarget(step: StepDefinition): string {
  return step.service ?? step.workflow ?? `split:${step.split!.model}`;
}

/** `name@version` with a whole version, or the problem. */
export function parseSplitModel(text: string): { name: string; version: number } | string {
  const at = text.indexOf('@');
  const name = at < 0 ? text : text.slice(0, at);
  const version = at < 0 ? NaN : Number(text.slice(at + 1));
  if (!name || !Number.isInteger(version) || version < 1)
    return `split.model must be name@version with a whole version, e.g. digits@1 (got "${text}"): the cut is chosen per version`;
  return { name, version };
}

/** Problems of a split step beyond its JSON Schema: the model reference and the two ends. */
export function splitStepProblems(step: StepDefinition, at: string): { pointer: string; message: string }[] {
  const split = step.split;
  if (!split) return [];
  const issues: { pointer: string; message: string }[] = [];
  const parsed = parseSplitModel(split.model);
  if (typeof parsed === 'string') issues.push({ pointer: `${at}/split/model`, message: parsed });
  if (split.between[0] === split.between[1])
    issues.push({
      pointer: `${at}/split/between`,
      message: `between names ${split.between[0]} twice: give two different nodes or tiers (e.g. ["device", "edge"])`,
    });
  if (step.model !== undefined)
    issues.push({ pointer: `${at}/model`, message: 'a split step names its model in split.model, not model' });
  if (step.escalate)
    issues.push({
      pointer: `${at}/escalate`,
      message: 'a split step cannot escalate (split the model tiered instead)',
    });
  return issues;
}

/** JSON Schema of a step's `split`. */
export const SPLIT_STEP_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['model', 'between'],
  properties: {
    model: { type: 'string', minLength: 3, maxLength: 160, description: 'name@version of a registered ONNX model' },
    between: {
      type: 'array',
      minItems: 2,
      maxItems: 2,
      items: { type: 'string', minLength: 1, maxLength: 128 },
      description: 'where the head runs, then where the tail runs: node ids or tiers',
    },
    lossy: { enum: [false, 'float16', 'int8'] },
    objective: { enum: ['latency', 'throughput'] },
    link: {
      type: 'object',
      additionalProperties: false,
      required: ['rttMs', 'mbps'],
      properties: {
        rttMs: { type: 'number', minimum: 0, maximum: 600_000 },
        mbps: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000 },
      },
    },
    cut: { type: 'string', minLength: 1, maxLength: 100_000, description: 'a cut id to run instead of the chosen one' },
  },
} as const;
