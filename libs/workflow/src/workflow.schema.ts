import { SPLIT_STEP_SCHEMA } from './split-step';
import { NODE_TIERS, OBJECTIVE_FORMS, OBJECTIVE_PATTERN } from '@yunbian/contracts';
import { LIMITS } from './definition';
import { HARD_RULES } from './hard-examples';

const ID = '^[A-Za-z][A-Za-z0-9_]{0,63}$';
const REF = '^[A-Za-z0-9_-]+(@[^\\s]+)?$';

const mapping = { description: 'JSONata expression (string) or a template whose "=..." strings are expressions' };
const placement = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tier: { enum: [...NODE_TIERS] },
    tags: { type: 'array', items: { type: 'string' } },
    anyTags: { type: 'array', items: { type: 'string' } },
    site: { type: 'string' },
    // The very grammar placement parses at run time (libs/placement `parseObjective`).
    objective: { type: 'string', pattern: OBJECTIVE_PATTERN, description: OBJECTIVE_FORMS },
    strategy: { type: 'string' },
    maxLatencyMs: { type: 'number', exclusiveMinimum: 0 },
    dataTier: { enum: ['public', 'edge-private', 'user-private'] },
  },
};

const modelRef = {
  type: 'string',
  pattern: REF,
  description:
    'the model that answers — name, name@version or semver range (digits@3, digits@^3), or name@alias (digits@stable, digits@canary)',
};

const tier = {
  type: 'object',
  additionalProperties: false,
  required: ['service'],
  properties: {
    service: {
      type: 'string',
      pattern: REF,
      description: 'name@semver-range of a service speaking the onnx-inference format',
    },
    model: modelRef,
    placement,
    hard: {
      type: 'object',
      additionalProperties: false,
      description:
        "which samples go on to the next tier (every tier but the last; default rule threshold). Defaults are Sedna's: threshold 0.5, box 0.5",
      properties: {
        rule: {
          enum: [...HARD_RULES],
          default: 'threshold',
          description:
            'threshold: max probability (detections: mean box score) < threshold; crossEntropy: 1 + Σ p ln p / ln K < threshold; margin: top-1 − top-2 < threshold; ibt (detections): share of boxes with score ≤ box ≥ 1 − threshold',
        },
        threshold: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
        box: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: 'ibt only: the box score threshold' },
      },
    },
    output: {
      type: 'string',
      minLength: 1,
      description: "name of the probabilities/detections output tensor; default the reply's first",
    },
  },
};

const TRIGGER_ID = '^[A-Za-z][A-Za-z0-9_-]{0,63}$';

// The kind (exactly one of subject, stream, schedule) and the syntax of subjects, stream
// names and cron expressions are checked by validateDefinition, which says what is accepted.
const trigger = {
  type: 'object',
  additionalProperties: false,
  description: 'exactly one of subject (core NATS), stream (JetStream), schedule (cron) or samples (a collection)',
  properties: {
    id: {
      type: 'string',
      pattern: TRIGGER_ID,
      description: 'letters, digits, _ and -; default <kind>-<position> (subject-0, stream-1…)',
    },
    subject: { type: 'string', minLength: 1, description: 'NATS subject (wildcards * and > allowed)' },
    stream: { type: 'string', minLength: 1, description: 'name of an existing JetStream stream' },
    filter: { type: 'string', minLength: 1, description: 'stream triggers: only messages on this subject' },
    from: {
      enum: ['new', 'all'],
      default: 'new',
      description: 'stream triggers: messages published after the trigger first started (new) or the whole stream',
    },
    schedule: { type: 'string', minLength: 1, description: 'cron expression: 5 fields, or 6 with seconds first' },
    samples: {
      type: 'object',
      additionalProperties: false,
      required: ['dataset'],
      description:
        "a collection (a tiered step's collect): fires on count new samples within windowSeconds, or accuracy below a level",
      properties: {
        dataset: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' },
        count: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'default 100' },
        windowSeconds: {
          type: 'number',
          exclusiveMinimum: 0,
          description: 'default: every sample since the last fire',
        },
        accuracyBelow: { type: 'number', minimum: 0, maximum: 1 },
        minLabelled: {
          type: 'integer',
          minimum: 1,
          description: 'labelled samples needed to judge accuracy (default 20)',
        },
      },
    },
    timezone: { type: 'string', minLength: 1, description: 'schedule triggers: IANA time zone (default UTC)' },
    site: {
      type: 'string',
      minLength: 1,
      description: "the site whose engine runs the trigger (default: the cloud's)",
    },
    input: { description: 'mapping from $trigger (the message or the fire) to the run input; default $trigger.data' },
    concurrency: {
      type: 'integer',
      minimum: 1,
      maximum: LIMITS.triggerConcurrency,
      description: 'runs of this trigger in flight at once (default: subject 64, stream 16, schedule 1)',
    },
    durability: {
      enum: ['durable', 'none'],
      description: "durability of the runs it starts (default: the workflow's)",
    },
  },
};

/** The workflow definition language as JSON Schema (served at GET /schemas/workflow). */
export const WORKFLOW_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://yunbian.dev/schemas/workflow.json',
  title: 'Yunbian workflow definition',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'steps'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    version: { type: 'integer', minimum: 1 },
    description: { type: 'string' },
    input: { type: 'object', description: 'JSON Schema of the run input' },
    durability: { enum: ['durable', 'none'], default: 'durable' },
    placement,
    output: mapping,
    triggers: { type: 'array', maxItems: LIMITS.triggers, items: trigger },
    steps: {
      type: 'array',
      minItems: 1,
      maxItems: LIMITS.steps,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        oneOf: [
          { required: ['service'] },
          { required: ['workflow'] },
          { required: ['tiers'] },
          { required: ['split'] },
        ],
        properties: {
          id: { type: 'string', pattern: ID, description: 'letters, digits and _ (usable in expressions)' },
          service: { type: 'string', pattern: REF, description: 'name@semver-range' },
          workflow: { type: 'string', pattern: REF, description: 'name or name@version of a workflow' },
          split: SPLIT_STEP_SCHEMA,
          model: { ...modelRef, description: `with service: ${modelRef.description}` },
          input: mapping,
          after: { type: 'array', items: { type: 'string', pattern: ID }, uniqueItems: true },
          when: { type: 'string', minLength: 1 },
          forEach: {
            type: 'object',
            additionalProperties: false,
            required: ['items'],
            properties: {
              items: { type: 'string', minLength: 1 },
              concurrency: { type: 'integer', minimum: 1, maximum: 256 },
            },
          },
          retry: {
            type: 'object',
            additionalProperties: false,
            properties: {
              maxAttempts: { type: 'integer', minimum: 1, maximum: 100 },
              backoff: { enum: ['fixed', 'exponential'] },
              initialDelayMs: { type: 'integer', minimum: 0 },
              maxDelayMs: { type: 'integer', minimum: 0 },
              jitter: { type: 'number', minimum: 0, maximum: 1 },
            },
          },
          timeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000 },
          onError: {
            oneOf: [
              { enum: ['fail', 'continue'] },
              {
                type: 'object',
                additionalProperties: false,
                required: ['fallback'],
                properties: {
                  fallback: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['service'],
                    properties: { service: { type: 'string', pattern: REF }, input: mapping },
                  },
                },
              },
            ],
          },
          placement,
          escalate: {
            type: 'object',
            additionalProperties: false,
            required: ['when', 'service'],
            properties: {
              when: { type: 'string', minLength: 1 },
              service: { type: 'string', pattern: REF },
              input: mapping,
            },
          },
          collect: {
            type: 'object',
            additionalProperties: false,
            required: ['dataset'],
            description: "a tiered step's hard examples appended to a collection, kept where their privacy tier allows",
            properties: {
              dataset: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' },
              privacy: { enum: ['public', 'edge-private', 'user-private'] },
            },
          },
          tiers: {
            type: 'array',
            minItems: 2,
            maxItems: 8,
            items: tier,
            description:
              'tiered inference instead of service: tier 0 gets the whole batch, the hard samples of each tier go on to the next',
          },
        },
      },
    },
  },
} as const;
