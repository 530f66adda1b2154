import type { StartInstanceCommand } from './catalog';
import type { ServedModel } from './model';

/**
 * Messages between an agent and the worker processes it supervises (Node IPC channel).
 *
 * A dedicated worker hosts one instance and leaves `instanceId` out. A shared worker hosts
 * many: every instance message names its instance, and the agent adds and removes
 * instances with `add` and `remove`; `drain` asks the whole process to drain and exit.
 */
export type WorkerToAgent =
  | { type: 'ready'; instanceId?: string; subjects: { service: string; instance: string }; model?: ServedModel }
  /** The model the instance serves changed (a hot swap); `model` absent: it serves none any more. */
  | { type: 'model'; instanceId?: string; model?: ServedModel }
  /** `latencyMs`: mean request time of the last few seconds (absent when idle). */
  | { type: 'load'; instanceId?: string; inFlight: number; queued: number; latencyMs?: number }
  | { type: 'failed'; instanceId?: string; error: string }
  /** A shared worker let an instance go (after `remove`, or because it failed to start). */
  | { type: 'removed'; instanceId: string; clean: boolean }
  /** The worker's own metrics (prom-client JSON) for the agent's /metrics; once per process. */
  | { type: 'metrics'; metrics: unknown[] };

export type AgentToWorker =
  | { type: 'drain'; timeoutMs: number }
  /** Shared workers: start an instance; `file` is the service file to load (from the agent's library). */
  | { type: 'add'; command: StartInstanceCommand; file?: string }
  /** Shared workers: drain one instance (running requests finish) and let it go. */
  | { type: 'remove'; instanceId: string; timeoutMs: number };

/** Environment an agent gives each worker. */
export const WorkerEnv = {
  instanceId: 'YUNBIAN_INSTANCE_ID',
  service: 'YUNBIAN_SERVICE',
  version: 'YUNBIAN_SERVICE_VERSION',
  /** The file defining the service, so the worker loads only that one (else it reads the library). */
  serviceFile: 'YUNBIAN_SERVICE_FILE',
  nodeId: 'YUNBIAN_NODE_ID',
  config: 'YUNBIAN_INSTANCE_CONFIG',
  /** `shared` for a worker that hosts the node's shared instances (no instance variables then). */
  mode: 'YUNBIAN_WORKER_MODE',
  /** The inbox prefix of the node's site (`siteInboxPrefix`), so the worker's replies stay at the site. */
  inboxPrefix: 'YUNBIAN_NATS_INBOX_PREFIX',
} as const;
