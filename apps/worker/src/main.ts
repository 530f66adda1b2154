import { instanceResourceAttributes, instrument, NatsTracePropagator, shutdownTracing } from '@yunbian/observability';
import { WorkerEnv, type AgentToWorker, type WorkerToAgent } from '@yunbian/contracts';

// Tracing starts before Nest and the service's dependencies load.
instrument(
  'yunbian-worker',
  instanceResourceAttributes({
    instanceId: process.env[WorkerEnv.instanceId] ?? 'unknown',
    serviceRef: `${process.env[WorkerEnv.service]}@${process.env[WorkerEnv.version]}`,
    nodeId: process.env[WorkerEnv.nodeId] ?? 'unknown',
  }),
);

import 'reflect-metadata';
import { DEFAULT_NATS_URL, envInt, JsonLogger, setLogFields } from '@yunbian/common';
import { NatsTransport, PayloadStore } from '@yunbian/transport';
import { findService, startInstance } from './instance-runtime';
import { reportMetrics } from './worker-metrics';

/**
 * A worker hosts one instance of one service. Its agent forks it with the instance's
 * identity in the environment and talks to it over the IPC channel; when the agent dies
 * the channel closes and the worker drains and exits, so no orphan keeps serving.
 */
async function main(): Promise<void> {
  const env = process.env;
  const instanceId = required(WorkerEnv.instanceId);
  const name = required(WorkerEnv.service);
  const version = required(WorkerEnv.version);
  const nodeId = required(WorkerEnv.nodeId);
  const config = env[WorkerEnv.config] ? (JSON.parse(env[WorkerEnv.config]!) as Record<string, unknown>) : {};
  setLogFields({
    service: 'yunbian-worker',
    instance_id: instanceId,
    node_id: nodeId,
    service_ref: `${name}@${version}`,
  });
  const logger = new JsonLogger('worker');
  const send = (message: WorkerToAgent) => process.send?.(message);

  try {
    const entry = findService(name, version, env[WorkerEnv.serviceFile] || undefined);

    const transport = await NatsTransport.connect({
      servers: env.NATS_URL ?? DEFAULT_NATS_URL,
      name: `worker ${instanceId}`,
      propagator: new NatsTracePropagator(),
      // Behind a leaf node the registry and payload stores are in the hub's domain.
      jetStreamDomain: env.YUNBIAN_JS_DOMAIN || undefined,
      // At an edge site: the site's inboxes, which its leaf connection does not export.
      inboxPrefix: env[WorkerEnv.inboxPrefix] || undefined,
    });
    const payloads = await PayloadStore.open(transport);
    const instance = await startInstance({
      command: { instanceId, service: name, version, config },
      entry,
      nodeId,
      transport,
      payloads,
      logger,
    });
    const host = instance.host;
    let servedModel = JSON.stringify(host.model ?? null);
    send({ type: 'ready', subjects: host.subjects, ...(host.model ? { model: host.model } : {}) });
    logger.info('instance ready', { subjects: host.subjects });

    const metricsTimer = reportMetrics(send);

    let reported = '';
    const loadTimer = setInterval(
      () => {
        // Load changes can come thousands of times a second; the agent needs the latest only
        // (read on the tick, so request times that age out of their window are reported too).
        const load = host.load;
        const current = JSON.stringify(load);
        if (current !== reported) {
          reported = current;
          send({ type: 'load', ...load });
        }
        // A hot swap changes the model served: announced on the next tick.
        const model = JSON.stringify(host.model ?? null);
        if (model !== servedModel) {
          servedModel = model;
          send({ type: 'model', model: host.model });
        }
      },
      envInt('YUNBIAN_LOAD_REPORT_MS', 250),
    );

    let stopping = false;
    const stop = async (reason: string, timeoutMs: number) => {
      if (stopping) return;
      stopping = true;
      clearInterval(loadTimer);
      clearInterval(metricsTimer);
      logger.info('draining', { reason, timeoutMs });
      const clean = await instance.stop(timeoutMs);
      if (!clean) logger.warn('drain deadline passed with requests still running', { ...host.load });
      await transport.drain();
      await shutdownTracing();
      process.exit(0);
    };
    process.on('message', (message: AgentToWorker) => {
      if (message?.type === 'drain') void stop('agent asked to drain', message.timeoutMs);
    });
    process.on('disconnect', () => void stop('agent went away', 5_000));
    process.on('SIGTERM', () => void stop('SIGTERM', 10_000));
    process.on('SIGINT', () => void stop('SIGINT', 10_000));
  } catch (err) {
    const message = (err as Error).message;
    logger.error('instance failed to start', { error: message });
    send({ type: 'failed', error: message });
    // Let the IPC message leave before exiting.
    setTimeout(() => process.exit(1), 50);
  }
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`worker: environment variable ${name} is required (workers are started by an agent)\n`);
    process.exit(2);
  }
  return value;
}

void main();
