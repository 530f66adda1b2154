import { Kvm } from '@nats-io/kv';
import { YunbianError, type NatsTransport } from '@yunbian/transport';
import { MODEL_META_BUCKET, MODEL_NAME_PATTERN } from './model-meta';

/** The registered versions of every model (ascending), read from the registry's KV keys. */
export async function registeredModels(transport: NatsTransport): Promise<Map<string, number[]>> {
  const models = new Map<string, number[]>();
  let kv;
  try {
    kv = await new Kvm(transport.jetstream()).open(MODEL_META_BUCKET);
  } catch {
    return models; // no model was ever registered
  }
  for await (const key of await kv.keys()) {
    const dot = key.lastIndexOf('.');
    const version = Number(key.slice(dot + 1));
    if (dot <= 0 || !Number.isInteger(version)) continue;
    const name = key.slice(0, dot);
    models.set(name, [...(models.get(name) ?? []), version]);
  }
  for (const versions of models.values()) versions.sort((a, b) => a - b);
  return models;
}

/**
 * Why an instance config's `model` (`name` for the latest, or `name@version`) names nothing
 * in the registry `models`, or undefined when it names a registered version. Said with the
 * versions (or models) that exist; `pointer` is where the reference sits in the request.
 */
export function instanceModelProblem(
  reference: unknown,
  models: Map<string, number[]>,
  pointer = '/config/model',
): YunbianError | undefined {
  const registered = [...models.keys()].sort();
  const names = registered.length ? `registered models: ${registered.join(', ')}` : 'the registry holds no models';
  if (typeof reference !== 'string') {
    return new YunbianError('BAD_REQUEST', `${pointer} must be a string: name or name@version (${names})`, { pointer });
  }
  const at = reference.indexOf('@');
  const name = at < 0 ? reference : reference.slice(0, at);
  const versionText = at < 0 ? undefined : reference.slice(at + 1);
  if (!MODEL_NAME_PATTERN.test(name)) {
    return new YunbianError(
      'BAD_REQUEST',
      `${pointer} "${reference}": model name "${name}" is invalid (1-128 letters, digits, "_" or "-")`,
      { pointer },
    );
  }
  const versions = models.get(name);
  if (!versions?.length) {
    return new YunbianError('NOT_FOUND', `${pointer}: model "${name}" is not in the registry (${names})`, {
      pointer,
      model: name,
      registered,
    });
  }
  if (versionText === undefined) return undefined;
  const version = Number(versionText);
  if (!/^[1-9][0-9]*$/.test(versionText)) {
    return new YunbianError(
      'BAD_REQUEST',
      `${pointer} "${reference}": an instance serves one version, name@<integer> (versions of ${name}: ${versions.join(', ')})`,
      { pointer, model: name, versions },
    );
  }
  if (!versions.includes(version)) {
    return new YunbianError(
      'NOT_FOUND',
      `${pointer}: model ${name} has no version ${version} (versions of ${name}: ${versions.join(', ')})`,
      { pointer, model: name, versions },
    );
  }
  return undefined;
}

/** Throws `instanceModelProblem`'s error for a config whose `model` is not registered; nothing without one. */
export async function assertInstanceModel(
  transport: NatsTransport,
  config: Record<string, unknown> | undefined,
  pointer = '/config/model',
): Promise<void> {
  if (config?.model === undefined) return;
  const problem = instanceModelProblem(config.model, await registeredModels(transport), pointer);
  if (problem) throw problem;
}
