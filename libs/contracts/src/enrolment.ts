/**
 * Node enrolment: how a node gets NATS credentials of its own (docs/security.md, "NATS").
 * An admin issues a single-use enrolment token for a node id and site (`POST /nodes/enrolments`);
 * the node's agent trades it for its credentials (`POST /nodes/enrol`); an admin revokes them
 * (`DELETE /nodes/{id}/credentials`), which every NATS server enforces at once.
 */

/** KV bucket of enrolment tokens (`token.<id>`), enrolled nodes (`node.<id>`) and the revocation list. */
export const NODE_CREDENTIALS_BUCKET = 'yb-node-credentials';

/** Environment of an agent that enrols itself. */
export const ENROLMENT_TOKEN_VARIABLE = 'YUNBIAN_ENROLMENT_TOKEN';
export const ORCHESTRATOR_URL_VARIABLE = 'YUNBIAN_ORCHESTRATOR_URL';
/**
 * A shared join token (at least 32 characters) the orchestrator may accept besides single-use
 * tokens: any node presenting it enrols under the id and site it names (for stacks that start
 * their nodes together, like compose; whoever holds it can enrol a node — unset it afterwards).
 */
export const NODE_JOIN_TOKEN_VARIABLE = 'YUNBIAN_NODE_JOIN_TOKEN';

/** Enrolment tokens: `ybe_<id>_<secret>`. */
export const ENROLMENT_TOKEN_FORMAT = /^ybe_([a-f0-9]{12})_([A-Za-z0-9_-]{20,200})$/;

export interface EnrolmentRequest {
  nodeId: string;
  site: string;
  /** Services the node may serve (subscribe to), besides those its agent names when it enrols. */
  services?: string[];
  /** How long the token may be used (default 86,400 s: a day). */
  expiresInS?: number;
}

export interface EnrolmentCreated {
  id: string;
  /** The token itself, shown this once. */
  token: string;
  nodeId: string;
  site: string;
  expiresAt: string;
}

export interface EnrolRequest {
  /** A single-use enrolment token; or, instead, `joinToken` with the node's id and site. */
  token?: string;
  joinToken?: string;
  nodeId?: string;
  site?: string;
  /** The services of the node's library (names): its credentials allow receiving their calls. */
  services?: string[];
}

export interface EnrolReply {
  nodeId: string;
  site: string;
  /** The node's NATS credentials (a `.creds` file's text: user JWT and nkey seed). */
  credentials: string;
  /** The inbox prefix its credentials allow (`nodeInboxPrefix`). */
  inboxPrefix: string;
  /** The public key of the NATS user (what a revocation names). */
  userKey: string;
}

export interface EnrolledNode {
  nodeId: string;
  site: string;
  userKey: string;
  services: string[];
  enrolmentId: string;
  issuedAt: string;
  revokedAt?: string;
  revokedBy?: string;
}
