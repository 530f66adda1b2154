/** Messages between an agent and the worker processes it supervises (Node IPC channel). */
export type WorkerToAgent =
  | { type: 'ready'; subjects: { service: string; instance: string } }
  | { type: 'load'; inFlight: number; queued: number }
  | { type: 'failed'; error: string }
  /** The worker's own metrics (prom-client JSON) for the agent's /metrics. */
  | { type: 'metrics'; metrics: unknown[] };

export type AgentToWorker = { type: 'drain'; timeoutMs: number };

/** Environment an agent gives each worker. */
export const WorkerEnv = {
  instanceId: 'YUNBIAN_INSTANCE_ID',
  service: 'YUNBIAN_SERVICE',
  version: 'YUNBIAN_SERVICE_VERSION',
  nodeId: 'YUNBIAN_NODE_ID',
  config: 'YUNBIAN_INSTANCE_CONFIG',
} as const;
