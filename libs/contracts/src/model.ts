/**
 * Models as routing targets: what an instance serves, and the aliases (`stable`, a canary
 * split) the registry keeps per model. A step's `model: digits@3` / `digits@^3` /
 * `digits@stable` / `digits@canary` routes only to instances whose `model` matches.
 */

/** Model names are single KV/subject tokens: letters, digits, `_` and `-`. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** The registered model version an instance serves (defined with the service vocabulary). */
export type { ServedModel } from '../../../packages/service-sdk/src/vocabulary';

/** Alias names: a letter first, then letters, digits, `_` or `-` (not `x`, a semver wildcard). */
export const MODEL_ALIAS_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/**
 * `canary` names the canary version of the `stable` alias; it cannot be set itself. A step
 * naming `name@canary` reaches only that version.
 */
export const CANARY_ALIAS = 'canary';
/** The alias whose canary `name@canary` names. */
export const STABLE_ALIAS = 'stable';

/** What `PUT /models/{name}/aliases/{alias}` takes. */
export interface ModelAliasSpec {
  version: number;
  /** A share (0–1) of the alias's requests goes to `version` instead. */
  canary?: { version: number; share: number };
}

/** One stored alias: the spec, who set it and when. */
export interface ModelAlias extends ModelAliasSpec {
  model: string;
  alias: string;
  /** The `X-Yunbian-Actor` header of the request that set it ("anonymous" without one). */
  setBy: string;
  setAt: string;
}

/** Read access to the aliases, synchronous (a routing decision cannot wait). */
export interface ModelAliasSource {
  alias(model: string, alias: string): ModelAlias | undefined;
  /** Every alias of one model. */
  aliasesOf(model: string): ModelAlias[];
}
