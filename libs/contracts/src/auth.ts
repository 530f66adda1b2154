/** REST credentials, roles and the audit log: the vocabulary shared by the orchestrator, the client and tests. */

/** Roles, weakest first: each includes what the ones before it may do. */
export const Roles = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof Roles)[number];

/** The JetStream KV bucket of API keys (hashed), shared by every orchestrator replica. */
export const API_KEYS_BUCKET = 'yb-api-keys';
/** The JetStream stream of audit entries (mutating REST calls and what other code records). */
export const AUDIT_STREAM = 'yb-audit';
/** Subject prefix of audit entries: `yb.audit.<kind>` (`http` for REST calls). */
export const AUDIT_SUBJECT_PREFIX = 'yb.audit';

/** The bootstrap admin key an orchestrator uses (when unset: generated at first start, logged once). */
export const ADMIN_KEY_VARIABLE = 'YUNBIAN_ADMIN_KEY';
/** The credential clients (libs/client, tools) send when no key is passed explicitly. */
export const API_KEY_VARIABLE = 'YUNBIAN_API_KEY';

/** Who made a request, once its credential is verified. */
export interface Principal {
  /** `key` for an API key, `jwt` for a bearer token. */
  kind: 'key' | 'jwt';
  /** The key id, or the token's `sub`. */
  id: string;
  /** The key's name (keys only). */
  name?: string;
  role: Role;
  /** Sites the credential is limited to; absent = every site. */
  sites?: string[];
}

/** What `POST /auth/keys` accepts. */
export interface ApiKeyRequest {
  name: string;
  role: Role;
  sites?: string[];
  /** ISO 8601 time after which the key is refused. */
  expiresAt?: string;
}

/** A key as listed (never its secret nor its hash). */
export interface ApiKeyView {
  id: string;
  name: string;
  role: Role;
  sites?: string[];
  expiresAt?: string;
  createdAt: string;
  /** Who created it (a key id or a token subject; `bootstrap` for the bootstrap admin key). */
  createdBy: string;
  /** The bootstrap admin key (from YUNBIAN_ADMIN_KEY or generated at first start). */
  bootstrap?: boolean;
}

/** What `POST /auth/keys` answers: the key itself appears here only, once. */
export interface ApiKeyCreated extends ApiKeyView {
  key: string;
}

/** One audit entry. */
export interface AuditEntry {
  /** ISO 8601 time the call was made. */
  time: string;
  /** `http` for REST calls; other code records its own kinds (e.g. `model`). */
  kind: string;
  /** Key id or token subject; `anonymous` when no valid credential came with the call. */
  actor: string;
  actorName?: string;
  role?: Role;
  /** What was done: `POST /instances` for REST calls, free text for other kinds. */
  action: string;
  method?: string;
  /** The route's pattern, e.g. `/instances/:id`. */
  route?: string;
  path?: string;
  params?: Record<string, unknown>;
  status?: number;
  durationMs?: number;
  /** Anything else the recorder wants kept (no secrets, no payloads). */
  details?: Record<string, unknown>;
  /** The stream sequence number (set when read back). */
  seq?: number;
}
