import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { Injectable, Inject, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Kvm, type KV } from '@nats-io/kv';
import {
  accountJwt,
  issueNatsUserWithKey,
  JsonLogger,
  loadNatsTrust,
  NATS_TRUST_DIR_VARIABLE,
  NatsTrustFiles,
  type NatsTrust,
} from '@yunbian/common';
import {
  ENROLMENT_TOKEN_FORMAT,
  IDENTIFIER_PATTERN,
  IDENTIFIER_RULE,
  NODE_CREDENTIALS_BUCKET,
  nodeInboxPrefix,
  type EnrolledNode,
  type EnrolmentCreated,
  type EnrolmentRequest,
  type EnrolReply,
} from '@yunbian/contracts';
import { createKv, NatsTransport, YunbianError } from '@yunbian/transport';
import { readFileSync } from 'node:fs';
import { AuditService } from '../auth/audit.service';
import { nodePermissions } from './node-permissions';

/** What the orchestrator needs to enrol nodes: the deployment's NATS trust (`YUNBIAN_NATS_TRUST_DIR`). */
export const ENROLMENT_TRUST = Symbol('ENROLMENT_TRUST');
/** `YUNBIAN_NODE_JOIN_TOKEN`, when the orchestrator accepts one. */
export const ENROLMENT_JOIN_TOKEN = Symbol('ENROLMENT_JOIN_TOKEN');

interface TokenRecord {
  id: string;
  /** sha256 of `<id>:<secret>`, hex. */
  hash: string;
  nodeId: string;
  site: string;
  services: string[];
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  usedAt?: string;
}

const DEFAULT_TOKEN_TTL_S = 86_400;
const MAX_TOKEN_TTL_S = 30 * 86_400;
const REVOCATIONS_KEY = 'revocations';

const hashOf = (id: string, secret: string) => createHash('sha256').update(`${id}:${secret}`).digest('hex');

/**
 * Node enrolment and revocation (docs/security.md, "NATS"). Tokens, enrolled nodes and the
 * revocation list live in the KV bucket `yb-node-credentials`, shared by the replicas; a node's
 * credentials are a NATS user JWT signed with the account key of the trust, with
 * `nodePermissions`. Revoking re-signs the account JWT with the user's key in its revocations and
 * pushes it to the servers (`$SYS.REQ.CLAIMS.UPDATE`, as the system user): every server, leaf
 * nodes included, closes that user's connections and refuses it from then on. At start the
 * current list is pushed again, so a server that missed an update catches up.
 */
@Injectable()
export class EnrolmentService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('enrolment');
  private kv?: KV;
  private system?: NatsTransport;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENROLMENT_TRUST) private readonly trustDir: string | undefined,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(ENROLMENT_JOIN_TOKEN) private readonly joinToken?: string,
  ) {}

  private trustValue?: NatsTrust;
  private get trust(): NatsTrust {
    if (!this.trustDir) {
      throw new YunbianError(
        'UNAVAILABLE',
        `this orchestrator has no NATS trust: set ${NATS_TRUST_DIR_VARIABLE} to the deployment's trust directory (the one its NATS servers include) to enrol and revoke nodes`,
      );
    }
    this.trustValue ??= loadNatsTrust(this.trustDir);
    return this.trustValue;
  }

  async onModuleInit(): Promise<void> {
    this.kv = await createKv(new Kvm(this.transport.jetstream()), NODE_CREDENTIALS_BUCKET, { history: 1 });
    if (this.trustDir) {
      await this.pushAccount().catch((err: Error) =>
        this.logger.warn('could not push the account JWT at start; retried at the next revocation', {
          error: err.message,
        }),
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.system?.close().catch(() => undefined);
  }

  private bucket(): KV {
    if (!this.kv) throw new YunbianError('UNAVAILABLE', 'the node credentials bucket is not open yet; retry');
    return this.kv;
  }

  private async read<T>(key: string): Promise<T | undefined> {
    const entry = await this.bucket().get(key);
    return entry && entry.operation === 'PUT' ? (entry.json() as T) : undefined;
  }

  async createEnrolment(request: EnrolmentRequest, createdBy: string): Promise<EnrolmentCreated> {
    const problem = enrolmentRequestProblem(request);
    if (problem) throw new YunbianError('BAD_REQUEST', `POST /nodes/enrolments: ${problem}`);
    void this.trust; // refuse at once without a trust, not at enrolment
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = new Date();
    const record: TokenRecord = {
      id,
      hash: hashOf(id, secret),
      nodeId: request.nodeId,
      site: request.site,
      services: request.services ?? [],
      createdBy,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + (request.expiresInS ?? DEFAULT_TOKEN_TTL_S) * 1000).toISOString(),
    };
    await this.bucket().put(`token.${id}`, JSON.stringify(record));
    return { id, token: `ybe_${id}_${secret}`, nodeId: record.nodeId, site: record.site, expiresAt: record.expiresAt };
  }

  /**
   * Enrols with the shared join token (`YUNBIAN_NODE_JOIN_TOKEN`) under the node id and site the
   * caller names; 401 when the orchestrator has none or it does not match.
   */
  async join(joinToken: string, nodeId: unknown, site: unknown, services: string[] = []): Promise<EnrolReply> {
    const given = Buffer.from(typeof joinToken === 'string' ? joinToken : '');
    const expected = Buffer.from(this.joinToken ?? '');
    if (!this.joinToken || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      await this.refused('join', this.joinToken ? 'wrong join token' : 'join tokens not accepted here');
      throw new YunbianError(
        'UNAUTHENTICATED',
        this.joinToken
          ? 'wrong join token (YUNBIAN_NODE_JOIN_TOKEN of the orchestrator)'
          : 'this orchestrator accepts no join token (YUNBIAN_NODE_JOIN_TOKEN is unset): enrol with a single-use token from POST /nodes/enrolments',
      );
    }
    const problem = enrolmentRequestProblem({ nodeId, site, services } as EnrolmentRequest);
    if (problem) throw new YunbianError('BAD_REQUEST', `POST /nodes/enrol: ${problem}`);
    return this.issue('join', { nodeId: nodeId as string, site: site as string, services: [] }, services);
  }

  /** Trades a token for the node's credentials; refuses unknown, used and expired tokens (401/409). */
  async enrol(token: string, services: string[] = []): Promise<EnrolReply> {
    const match = ENROLMENT_TOKEN_FORMAT.exec(typeof token === 'string' ? token : '');
    if (!match) {
      throw new YunbianError(
        'UNAUTHENTICATED',
        'not an enrolment token: ask an admin for one (POST /nodes/enrolments)',
      );
    }
    const [, id, secret] = match;
    const record = await this.read<TokenRecord>(`token.${id}`);
    const expected = record ? Buffer.from(record.hash, 'hex') : Buffer.alloc(32);
    const given = Buffer.from(hashOf(id!, secret!), 'hex');
    if (!record || !timingSafeEqual(expected, given)) {
      await this.refused(id!, 'unknown enrolment token');
      throw new YunbianError('UNAUTHENTICATED', `unknown enrolment token ${id}: ask an admin for a new one`);
    }
    if (record.usedAt) {
      await this.refused(id!, 'enrolment token used before');
      throw new YunbianError(
        'CONFLICT',
        `enrolment token ${id} was used at ${record.usedAt} (tokens are single-use): ask an admin for a new one`,
      );
    }
    if (Date.parse(record.expiresAt) <= Date.now()) {
      await this.refused(id!, 'enrolment token expired');
      throw new YunbianError('UNAUTHENTICATED', `enrolment token ${id} expired at ${record.expiresAt}`);
    }
    await this.bucket().put(`token.${id}`, JSON.stringify({ ...record, usedAt: new Date().toISOString() }));
    return this.issue(id!, record, services);
  }

  /** Issues a node's credentials (revoking earlier ones of the same node) and records the enrolment. */
  private async issue(
    id: string,
    record: { nodeId: string; site: string; services: string[] },
    services: string[],
  ): Promise<EnrolReply> {
    const bad = services.find((s) => typeof s !== 'string' || !IDENTIFIER_PATTERN.test(s));
    if (bad !== undefined)
      throw new YunbianError('BAD_REQUEST', `service name ${JSON.stringify(bad)}: ${IDENTIFIER_RULE}`);
    const all = [...new Set([...record.services, ...services])].sort();
    const issued = await issueNatsUserWithKey(
      this.trust,
      `node ${record.nodeId}`,
      nodePermissions(record.nodeId, record.site, all),
    );
    // A node enrolled again: its earlier credentials stop working.
    const earlier = await this.read<EnrolledNode>(`node.${record.nodeId}`);
    const node: EnrolledNode = {
      nodeId: record.nodeId,
      site: record.site,
      userKey: issued.publicKey,
      services: all,
      enrolmentId: id,
      issuedAt: new Date().toISOString(),
    };
    await this.bucket().put(`node.${record.nodeId}`, JSON.stringify(node));
    if (earlier && !earlier.revokedAt) await this.revokeKey(earlier.userKey);
    await this.audit.record({
      time: new Date().toISOString(),
      kind: 'node-enrolled',
      actor: `enrolment:${id}`,
      actorName: record.nodeId,
      action: 'POST /nodes/enrol',
      details: { nodeId: record.nodeId, site: record.site, services: all, userKey: issued.publicKey },
    });
    return {
      nodeId: record.nodeId,
      site: record.site,
      credentials: issued.creds,
      inboxPrefix: nodeInboxPrefix(record.site, record.nodeId),
      userKey: issued.publicKey,
    };
  }

  async enrolled(nodeId: string): Promise<EnrolledNode | undefined> {
    return this.read<EnrolledNode>(`node.${nodeId}`);
  }

  /** Revokes a node's credentials: its connections are closed at once, everywhere. */
  async revoke(nodeId: string, revokedBy: string): Promise<EnrolledNode> {
    const node = await this.read<EnrolledNode>(`node.${nodeId}`);
    if (!node) {
      throw new YunbianError(
        'NOT_FOUND',
        `node ${nodeId} was never enrolled (its credentials are not ours to revoke)`,
        {
          nodeId,
        },
      );
    }
    await this.revokeKey(node.userKey);
    const revoked = { ...node, revokedAt: new Date().toISOString(), revokedBy };
    await this.bucket().put(`node.${nodeId}`, JSON.stringify(revoked));
    return revoked;
  }

  /** The credentials of a site's leaf node for its connection to the hub. */
  async leafCredentials(site: string): Promise<{ site: string; credentials: string; userKey: string }> {
    if (!IDENTIFIER_PATTERN.test(site)) throw new YunbianError('BAD_REQUEST', `site name ${site}: ${IDENTIFIER_RULE}`);
    const issued = await issueNatsUserWithKey(this.trust, `leaf ${site}`, {});
    return { site, credentials: issued.creds, userKey: issued.publicKey };
  }

  private async revokeKey(userKey: string): Promise<void> {
    // Read-modify-write with the entry's revision: two replicas revoking at once both land.
    for (let attempt = 0; attempt < 10; attempt++) {
      const entry = await this.bucket().get(REVOCATIONS_KEY);
      const current = entry && entry.operation === 'PUT' ? (entry.json() as Record<string, number>) : {};
      const next = { ...current, [userKey]: Math.floor(Date.now() / 1000) };
      try {
        if (entry && entry.operation === 'PUT')
          await this.bucket().update(REVOCATIONS_KEY, JSON.stringify(next), entry.revision);
        else await this.bucket().create(REVOCATIONS_KEY, JSON.stringify(next));
        break;
      } catch (err) {
        if (attempt === 9) throw err;
      }
    }
    await this.pushAccount();
  }

  /** Pushes the account JWT with the current revocations to every server (through the system account). */
  private async pushAccount(): Promise<void> {
    const revocations = (await this.read<Record<string, number>>(REVOCATIONS_KEY)) ?? {};
    const jwt = await accountJwt(this.trust, revocations);
    this.system ??= await NatsTransport.connect({
      servers: this.transport.connection.getServer() ? [`nats://${this.transport.connection.getServer()}`] : [],
      name: 'orchestrator (system account)',
      credentials: readFileSync(path.join(this.trust.dir, NatsTrustFiles.systemCreds), 'utf8'),
    });
    const reply = await this.system.connection.request('$SYS.REQ.CLAIMS.UPDATE', new TextEncoder().encode(jwt), {
      timeout: 5_000,
    });
    const answer = JSON.parse(new TextDecoder().decode(reply.data)) as {
      data?: { code?: number; message?: string };
      error?: { code?: number; description?: string };
    };
    if (answer.error || answer.data?.code !== 200) {
      throw new YunbianError(
        'INTERNAL',
        `the NATS server refused the account update: ${answer.error?.description ?? answer.data?.message ?? JSON.stringify(answer)}`,
      );
    }
    this.logger.info('account JWT pushed', { revoked: Object.keys(revocations).length });
  }

  private async refused(tokenId: string, reason: string): Promise<void> {
    await this.audit.record({
      time: new Date().toISOString(),
      kind: 'enrolment-refused',
      actor: `enrolment:${tokenId}`,
      action: 'POST /nodes/enrol',
      details: { reason },
    });
  }
}

/** What is wrong with an enrolment request, or undefined. */
export function enrolmentRequestProblem(request: EnrolmentRequest): string | undefined {
  if (typeof request !== 'object' || request === null) return 'the body must be an object { nodeId, site }';
  if (typeof request.nodeId !== 'string' || !IDENTIFIER_PATTERN.test(request.nodeId))
    return `nodeId must be ${IDENTIFIER_RULE}`;
  if (typeof request.site !== 'string' || !IDENTIFIER_PATTERN.test(request.site))
    return `site must be ${IDENTIFIER_RULE}`;
  if (request.services !== undefined) {
    if (!Array.isArray(request.services)) return 'services must be a list of service names';
    const bad = request.services.find((s) => typeof s !== 'string' || !IDENTIFIER_PATTERN.test(s));
    if (bad !== undefined) return `service name ${JSON.stringify(bad)}: ${IDENTIFIER_RULE}`;
  }
  if (request.expiresInS !== undefined) {
    if (!Number.isInteger(request.expiresInS) || request.expiresInS < 1 || request.expiresInS > MAX_TOKEN_TTL_S)
      return `expiresInS must be a whole number of seconds from 1 to ${MAX_TOKEN_TTL_S}`;
  }
  return undefined;
}
