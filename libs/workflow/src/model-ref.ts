import { createHash } from 'node:crypto';
import semver from 'semver';
import {
  CANARY_ALIAS,
  MODEL_ALIAS_PATTERN,
  MODEL_NAME_PATTERN,
  STABLE_ALIAS,
  YunbianError,
  type ModelAlias,
  type ModelAliasSource,
  type ServedModel,
} from '@yunbian/contracts';

/**
 * What a step's `model` names: versions by a semver range over the registry's integer
 * versions (version 3 is read as 3.0.0, so `3` and `^3` are version 3, `>=2` is 2 and up,
 * `*` or no `@…` is any version), or an alias (`stable`, `canary`, any name set with
 * `PUT /models/{name}/aliases/{alias}`).
 */
export type ModelSelector = { kind: 'range'; range: string } | { kind: 'alias'; alias: string };

export interface ModelRef {
  name: string;
  selector: ModelSelector;
  /** As written. */
  text: string;
}

export const MODEL_REF_FORMS =
  'name, name@<version or semver range> (digits@3, digits@^3, digits@>=2) or name@<alias> (digits@stable, digits@canary)';

/** Why a `model` reference cannot be read, or undefined when it can. */
export function modelRefProblem(text: string): string | undefined {
  const at = text.indexOf('@');
  const name = at < 0 ? text : text.slice(0, at);
  if (!MODEL_NAME_PATTERN.test(name)) {
    return `model name "${name}" is invalid (1-128 letters, digits, "_" or "-"); write ${MODEL_REF_FORMS}`;
  }
  if (at < 0) return undefined;
  const selector = text.slice(at + 1);
  if (isAliasName(selector)) return undefined;
  if (semver.validRange(selector) === null) {
    return `"${selector}" in model "${text}" is neither a version, a semver range nor an alias name; write ${MODEL_REF_FORMS}`;
  }
  return undefined;
}

/** Alias names start with a letter; `x` alone is semver's wildcard, not an alias. */
export function isAliasName(text: string): boolean {
  return MODEL_ALIAS_PATTERN.test(text) && text !== 'x' && text !== 'X';
}

/** Reads `name`, `name@range` or `name@alias`; a YunbianError (BAD_REQUEST) saying the accepted forms otherwise. */
export function parseModelRef(text: string): ModelRef {
  const problem = modelRefProblem(text);
  if (problem) throw new YunbianError('BAD_REQUEST', problem, { model: text });
  const at = text.indexOf('@');
  if (at < 0) return { name: text, selector: { kind: 'range', range: '*' }, text };
  const name = text.slice(0, at);
  const selector = text.slice(at + 1);
  return isAliasName(selector)
    ? { name, selector: { kind: 'alias', alias: selector }, text }
    : { name, selector: { kind: 'range', range: selector }, text };
}

/** Whether registry version `version` is in a semver range (`version` read as `version.0.0`). */
export function modelVersionInRange(version: number, range: semver.Range | string): boolean {
  return semver.satisfies(`${version}.0.0`, range);
}

/**
 * Where a request for a model goes once its reference is resolved: which versions are
 * accepted, and how that was decided (for the run record and for errors).
 */
export interface ModelTarget {
  name: string;
  /** The one version an alias chose; undefined for a range. */
  version?: number;
  /** The range when the reference named one. */
  range?: string;
  /** The alias that was resolved. */
  alias?: string;
  /** True when the request went to the canary: `name@canary`, or the alias's split drew it. */
  canary?: boolean;
  /** `digits@stable → version 3`, `digits@stable → version 4 (canary, share 0.2)`, `digits@^3`. */
  description: string;
}

/**
 * The position in [0, 1) of a request in a canary split: the first 32 bits of the SHA-256 of
 * its key. Deterministic, so every attempt of one task (same run, step and element) lands
 * on the same side, and uniform over distinct keys, so the share holds over many requests.
 */
export function canaryDraw(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * Resolves a parsed reference against the aliases. A range is kept as a range (every
 * version in it is acceptable); an alias becomes one version: its own, or — for a share of
 * requests, by `canaryDraw(splitKey)` — its canary's; `name@canary` is the canary of
 * `name@stable`, always. Throws UNSATISFIABLE naming what is set when the alias is not.
 */
export function resolveModelRef(ref: ModelRef, aliases: ModelAliasSource | undefined, splitKey: string): ModelTarget {
  const { name, selector } = ref;
  if (selector.kind === 'range') return { name, range: selector.range, description: ref.text };
  if (selector.alias === CANARY_ALIAS) {
    const stable = aliases?.alias(name, STABLE_ALIAS);
    if (!stable?.canary) {
      throw aliasError(
        ref,
        aliases,
        stable
          ? `alias ${name}@${STABLE_ALIAS} (version ${stable.version}) carries no canary`
          : `model ${name} has no alias "${STABLE_ALIAS}"`,
        `set one with PUT /models/${name}/aliases/${STABLE_ALIAS} {"version": …, "canary": {"version": …, "share": …}}`,
      );
    }
    return {
      name,
      version: stable.canary.version,
      alias: CANARY_ALIAS,
      canary: true,
      description: `${ref.text} → version ${stable.canary.version} (the canary of ${name}@${STABLE_ALIAS})`,
    };
  }
  const alias = aliases?.alias(name, selector.alias);
  if (!alias) {
    throw aliasError(
      ref,
      aliases,
      `model ${name} has no alias "${selector.alias}"`,
      `set it with PUT /models/${name}/aliases/${selector.alias} {"version": …}`,
    );
  }
  if (alias.canary && alias.canary.share > 0 && canaryDraw(splitKey) < alias.canary.share) {
    return {
      name,
      version: alias.canary.version,
      alias: alias.alias,
      canary: true,
      description: `${ref.text} → version ${alias.canary.version} (canary, share ${alias.canary.share})`,
    };
  }
  return {
    name,
    version: alias.version,
    alias: alias.alias,
    description: `${ref.text} → version ${alias.version}`,
  };
}

function aliasError(ref: ModelRef, aliases: ModelAliasSource | undefined, what: string, fix: string): YunbianError {
  const set = aliases?.aliasesOf(ref.name) ?? [];
  const known = set.length
    ? `its aliases: ${set.map(describeAlias).join(', ')}`
    : aliases
      ? 'it has no aliases'
      : 'this engine reads no model aliases';
  return new YunbianError('UNSATISFIABLE', `model ${ref.text} cannot be resolved: ${what} (${known}); ${fix}`, {
    model: ref.text,
    aliases: set,
  });
}

/** `stable → 3 (canary 4 at 0.2)`. */
export function describeAlias(alias: Pick<ModelAlias, 'alias' | 'version' | 'canary'>): string {
  return alias.canary
    ? `${alias.alias} → ${alias.version} (canary ${alias.canary.version} at ${alias.canary.share})`
    : `${alias.alias} → ${alias.version}`;
}

/** Whether an instance serving `served` answers for `target` (`range` a parsed Range for speed). */
export function servesTarget(served: ServedModel | undefined, target: ModelTarget, range?: semver.Range): boolean {
  if (!served || served.name !== target.name) return false;
  if (target.version !== undefined) return served.version === target.version;
  return modelVersionInRange(served.version, range ?? target.range ?? '*');
}

/** `digits@3`. */
export const servedModelRef = (model: Pick<ServedModel, 'name' | 'version'>): string =>
  `${model.name}@${model.version}`;
