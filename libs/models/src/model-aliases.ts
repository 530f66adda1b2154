import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { CANARY_ALIAS, type ModelAlias, type ModelAliasSource, type ModelAliasSpec } from '@yunbian/contracts';
import { createKv, YunbianError, type NatsTransport } from '@yunbian/transport';
import { isAliasName } from '@yunbian/workflow';
import { MODEL_NAME_PATTERN } from './model-meta';

/** JetStream KV bucket holding one `ModelAlias` per key `<model>.<alias>`. */
export const MODEL_ALIAS_BUCKET = 'yb-model-aliases';

export const modelAliasKey = (model: string, alias: string): string => `${model}.${alias}`;

/** `X-Yunbian-Actor` when absent. */
export const ANONYMOUS_ACTOR = 'anonymous';

/**
 * Why a spec cannot be stored as alias `alias` of `model` whose registered versions are
 * `versions` (empty: the model is not in the registry); each problem with its JSON pointer.
 */
export function aliasSpecIssues(
  model: string,
  alias: string,
  spec: unknown,
  versions: number[],
): { pointer: string; message: string }[] {
  const issues: { pointer: string; message: string }[] = [];
  if (!MODEL_NAME_PATTERN.test(model)) {
    issues.push({ pointer: '/', message: `model name "${model}" is invalid; use 1-128 letters, digits, "_" or "-"` });
  }
  if (alias === CANARY_ALIAS) {
    issues.push({
      pointer: '/',
      message: `"${CANARY_ALIAS}" cannot be set: ${model}@canary names the canary of ${model}@stable; set {"canary": {"version", "share"}} on the stable alias`,
    });
  } else if (!isAliasName(alias)) {
    issues.push({
      pointer: '/',
      message: `alias "${alias}" is invalid: 1-64 letters, digits, "_" or "-", a letter first (not "x", a semver wildcard)`,
    });
  }
  const body = spec as Partial<ModelAliasSpec> | null;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return [
      ...issues,
      { pointer: '/', message: 'the body must be an object: {"version": 3, "canary"?: {"version": 4, "share": 0.1}}' },
    ];
  }
  const known = versions.length
    ? `registered versions of ${model}: ${versions.join(', ')}`
    : `model "${model}" is not in the registry`;
  const checkVersion = (value: unknown, pointer: string) => {
    if (!Number.isInteger(value) || (value as number) < 1) {
      issues.push({ pointer, message: `must be a registered version number (${known})` });
    } else if (!versions.includes(value as number)) {
      issues.push({ pointer, message: `${model} has no version ${value as number} (${known})` });
    }
  };
  checkVersion(body.version, '/version');
  for (const key of Object.keys(body)) {
    if (key !== 'version' && key !== 'canary')
      issues.push({ pointer: `/${key}`, message: 'unknown field; accepted: version, canary' });
  }
  if (body.canary !== undefined) {
    const canary = body.canary as Partial<ModelAliasSpec['canary']> | null;
    if (typeof canary !== 'object' || canary === null) {
      issues.push({ pointer: '/canary', message: 'must be {"version": <registered version>, "share": <0 to 1>}' });
    } else {
      checkVersion(canary.version, '/canary/version');
      if (canary.version === body.version) {
        issues.push({
          pointer: '/canary/version',
          message: 'must differ from version (the canary is another version)',
        });
      }
      if (typeof canary.share !== 'number' || !(canary.share >= 0 && canary.share <= 1)) {
        issues.push({
          pointer: '/canary/share',
          message: 'must be a number from 0 to 1 (the share of requests sent to the canary)',
        });
      }
      for (const key of Object.keys(canary)) {
        if (key !== 'version' && key !== 'share')
          issues.push({ pointer: `/canary/${key}`, message: 'unknown field; accepted: version, share' });
      }
    }
  }
  return issues;
}

/**
 * Aliases held in memory, by model then alias; each kept with the KV revision it came with
 * (a delete as a tombstone), so a late watch delivery never undoes a newer write.
 */
export class ModelAliasBook implements ModelAliasSource {
  private readonly models = new Map<string, Map<string, { alias?: ModelAlias; revision: number }>>();

  alias(model: string, alias: string): ModelAlias | undefined {
    return this.models.get(model)?.get(alias)?.alias;
  }

  aliasesOf(model: string): ModelAlias[] {
    const held: ModelAlias[] = [];
    for (const entry of this.models.get(model)?.values() ?? []) if (entry.alias) held.push(entry.alias);
    return held.sort((a, b) => a.alias.localeCompare(b.alias));
  }

  /** Every alias, by model then alias name. */
  all(): ModelAlias[] {
    return [...this.models.keys()].sort().flatMap((m) => this.aliasesOf(m));
  }

  /** A put (`alias`) or delete (undefined) at `revision`; older news than what is held is ignored. */
  apply(model: string, name: string, alias: ModelAlias | undefined, revision: number): void {
    let aliases = this.models.get(model);
    if (!aliases) this.models.set(model, (aliases = new Map()));
    const held = aliases.get(name);
    if (held && held.revision >= revision) return;
    aliases.set(name, alias ? { alias, revision } : { revision });
  }
}

/**
 * The model aliases in JetStream KV (`yb-model-aliases`), followed by a watch so routing
 * reads them synchronously; the writer (the registry's REST API) applies its own writes at
 * once, so a run started right after a `PUT` sees the new alias.
 */
export class ModelAliasStore extends ModelAliasBook {
  private stopWatching: () => void = () => undefined;

  private constructor(private readonly kv: KV) {
    super();
  }

  static async open(transport: NatsTransport): Promise<ModelAliasStore> {
    const kv = await createKv(new Kvm(transport.jetstream()), MODEL_ALIAS_BUCKET, { history: 5 });
    const store = new ModelAliasStore(kv);
    const watcher = await kv.watch({ key: '>' });
    store.stopWatching = () => watcher.stop();
    // The watch delivers every current value first, then the changes.
    void (async () => {
      for await (const entry of watcher) store.applyEntry(entry);
    })().catch(() => undefined);
    return store;
  }

  private applyEntry(entry: KvEntry): void {
    const [model, alias] = entry.key.split('.');
    if (!model || !alias) return;
    const value = entry.operation === 'PUT' ? entry.json<ModelAlias>() : undefined;
    this.apply(model, alias, value, entry.revision);
  }

  /** Stores an alias (checked by `aliasSpecIssues` first), recording who set it and when. */
  async set(model: string, alias: string, spec: ModelAliasSpec, actor: string): Promise<ModelAlias> {
    const record: ModelAlias = {
      model,
      alias,
      version: spec.version,
      ...(spec.canary ? { canary: { version: spec.canary.version, share: spec.canary.share } } : {}),
      setBy: actor,
      setAt: new Date().toISOString(),
    };
    const revision = await this.kv.put(modelAliasKey(model, alias), JSON.stringify(record));
    this.apply(model, alias, record, revision);
    return record;
  }

  async delete(model: string, alias: string): Promise<ModelAlias> {
    const held = this.alias(model, alias);
    if (!held) {
      const set = this.aliasesOf(model).map((a) => a.alias);
      throw new YunbianError(
        'NOT_FOUND',
        `model ${model} has no alias "${alias}"; its aliases: ${set.join(', ') || 'none'}`,
      );
    }
    await this.kv.delete(modelAliasKey(model, alias));
    const entry = await this.kv.get(modelAliasKey(model, alias));
    if (entry) this.apply(model, alias, undefined, entry.revision);
    return held;
  }

  close(): void {
    this.stopWatching();
  }
}
