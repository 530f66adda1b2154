/**
 * The spelling of a placement objective, as a workflow's `placement.objective` and
 * `POST /placements/plan` write it: a name, or `latency:<weight 0..1>` (that weight on latency,
 * the rest on cost). Here because both the workflow schema (libs/workflow) and placement
 * (libs/placement, whose `parseObjective` gives each form its meaning) read it, and neither
 * depends on the other. Names carry no regular-expression characters but `-`.
 */
export const OBJECTIVE_NAMES = ['latency', 'cost', 'balanced', 'mix', 'cost-slo'] as const;
export type ObjectiveName = (typeof OBJECTIVE_NAMES)[number];

/** The prefix of a weighted objective: `latency:0.7`. */
export const WEIGHTED_OBJECTIVE_PREFIX = 'latency:';

/** A weight of 0 to 1 written as `0`, `0.25`, `1` or `1.0`. */
const WEIGHT = '(?:0(?:\\.\\d+)?|1(?:\\.0+)?)';

/** Every objective accepted, as a JSON Schema `pattern` (ECMA-262). */
export const OBJECTIVE_PATTERN = `^(?:${OBJECTIVE_NAMES.join('|')}|${WEIGHTED_OBJECTIVE_PREFIX}${WEIGHT})$`;

/** The accepted forms, for messages and schema descriptions. */
export const OBJECTIVE_FORMS = `${OBJECTIVE_NAMES.join(', ')} or ${WEIGHTED_OBJECTIVE_PREFIX}<weight 0..1> (e.g. latency:0.7)`;
