import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Kvm, type KV } from '@nats-io/kv';
import { JsonLogger } from '@yunbian/common';
import { ADMIN_KEY_VARIABLE, API_KEYS_BUCKET, type ApiKeyRequest, type ApiKeyView } from '@yunbian/contracts';
import { createKv, NatsTransport, YunbianError } from '@yunbian/transport';
import { generateApiKey, keyView, newKeyRecord, type ApiKeyRecord, type ParsedKey } from './api-key';
import { AUTH_CONFIG, type AuthConfig } from './auth-tokens';

/** The KV entry naming the bootstrap admin key's id (created once: the first replica to start wins). */
const BOOTSTRAP_ENTRY = 'bootstrap';
const MAX_CACHED = 10_000;
/** How long a looked-up key still answers while the bucket cannot be read. */
const STALE_MS = 10 * 60_000;

/**
 * API keys in the JetStream KV bucket `yb-api-keys` (`key.<id>` → record with the secret's
 * hash), shared by every replica. A lookup is one KV get, trusted for `keyCacheMs` (1 s):
 * a key revoked here is refused at once on this replica (its cache entry is dropped) and
 * within 1 s on every other one. Chosen over a KV watch: no state to resynchronise after a
 * reconnect, and the staleness is bounded by construction.
 */
@Injectable()
export class ApiKeyStore implements OnModuleInit {
  private readonly logger = new JsonLogger('auth');
  private kv?: KV;
  private opening?: Promise<KV>;
  private readonly cache = new Map<string, { record: ApiKeyRecord | undefined; at: number }>();

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
  ) {}

  /**
   * Opens the bucket and settles the bootstrap key before the orchestrator listens. A site
   * engine (its state in the hub's domain) must start with its uplink cut, so it opens the
   * bucket in the background and again on each lookup until it succeeds.
   */
  async onModuleInit(): Promise<void> {
    const opening = this.open();
    if (!this.transport.jetStreamDomain) await opening;
    else
      opening.catch((err: Error) =>
        this.logger.warn('API key bucket unreachable for now; retried on use', { error: err.message }),
      );
  }

  private open(): Promise<KV> {
    this.opening ??= (async () => {
      const kv = await createKv(new Kvm(this.transport.jetstream()), API_KEYS_BUCKET, { history: 1 });
      this.kv = kv;
      await this.bootstrap();
      return kv;
    })();
    this.opening.catch(() => (this.opening = undefined));
    return this.opening;
  }

  /**
   * The bootstrap admin key: YUNBIAN_ADMIN_KEY as given (stored hashed; a different earlier
   * bootstrap key is revoked), else one generated at the first start of any replica and
   * logged once. Later starts find the `bootstrap` entry and generate nothing.
   */
  private async bootstrap(): Promise<void> {
    const kv = this.kv!;
    const request: ApiKeyRequest = { name: 'bootstrap admin', role: 'admin' };
    const given = this.config.adminKey;
    if (given) {
      const previous = await kv.get(BOOTSTRAP_ENTRY);
      const previousId = previous?.operation === 'PUT' ? previous.string() : undefined;
      await kv.put(`key.${given.id}`, JSON.stringify(newKeyRecord(given, request, 'bootstrap', new Date(), true)));
      await kv.put(BOOTSTRAP_ENTRY, given.id);
      if (previousId && previousId !== given.id) await kv.purge(`key.${previousId}`);
      this.logger.info('admin key from environment', { variable: ADMIN_KEY_VARIABLE, id: given.id });
      return;
    }
    const existing = await kv.get(BOOTSTRAP_ENTRY);
    if (existing?.operation === 'PUT') return;
    const generated = generateApiKey();
    await kv.put(
      `key.${generated.id}`,
      JSON.stringify(newKeyRecord(generated, request, 'bootstrap', new Date(), true)),
    );
    try {
      await kv.create(BOOTSTRAP_ENTRY, generated.id);
    } catch {
      // Another replica bootstrapped at the same moment: its key is the one.
      await kv.purge(`key.${generated.id}`);
      return;
    }
    // The only time the key is visible: it is stored hashed.
    this.logger.info(`admin key (shown once): ${generated.key}`, { id: generated.id });
  }

  /**
   * The record of key `id` (undefined: none, or revoked). When the bucket cannot be read (a
   * site engine cut off from the hub), a record read within STALE_MS still answers — revocation
   * cannot reach a cut-off site anyway — and so does the process's own configured admin key;
   * anything else gets 503 saying why.
   */
  async lookup(id: string): Promise<ApiKeyRecord | undefined> {
    const hit = this.cache.get(id);
    const now = Date.now();
    if (hit && now - hit.at < this.config.keyCacheMs) return hit.record;
    let record: ApiKeyRecord | undefined;
    try {
      const entry = await (await this.open()).get(`key.${id}`);
      record = entry?.operation === 'PUT' ? entry.json<ApiKeyRecord>() : undefined;
    } catch (err) {
      if (hit && now - hit.at < STALE_MS) return hit.record;
      // This process's own bootstrap key (YUNBIAN_ADMIN_KEY) is known without the bucket: a site
      // engine restarted while cut off from the hub still answers its operator.
      const own = this.config.adminKey;
      if (own && own.id === id)
        return newKeyRecord(own, { name: 'bootstrap admin', role: 'admin' }, 'bootstrap', new Date(), true);
      throw new YunbianError(
        'UNAVAILABLE',
        `cannot check the API key now: the key bucket ${API_KEYS_BUCKET} is unreachable (${(err as Error).message}); retry, or use a JWT (verified locally)`,
      );
    }
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(id, { record, at: now });
    return record;
  }

  async create(request: ApiKeyRequest, createdBy: string): Promise<{ record: ApiKeyRecord; key: string }> {
    await this.open();
    const generated: ParsedKey & { key: string } = generateApiKey();
    const record = newKeyRecord(generated, request, createdBy, new Date());
    await this.kv!.create(`key.${record.id}`, JSON.stringify(record));
    this.cache.delete(record.id);
    return { record, key: generated.key };
  }

  async list(): Promise<ApiKeyView[]> {
    await this.open();
    const ids: string[] = [];
    for await (const key of await this.kv!.keys('key.>')) ids.push(key.slice('key.'.length));
    const views: ApiKeyView[] = [];
    for (const id of ids.sort()) {
      const entry = await this.kv!.get(`key.${id}`);
      if (entry?.operation === 'PUT') views.push(keyView(entry.json<ApiKeyRecord>()));
    }
    return views;
  }

  /** Revokes a key (its record is purged); false when there is none. */
  async revoke(id: string): Promise<boolean> {
    await this.open();
    const entry = await this.kv!.get(`key.${id}`);
    this.cache.delete(id);
    if (entry?.operation !== 'PUT') return false;
    await this.kv!.purge(`key.${id}`);
    this.cache.set(id, { record: undefined, at: Date.now() });
    return true;
  }
}
