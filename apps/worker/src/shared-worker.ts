import { instrument, NatsTracePropagator, shutdownTracing, YunbianAttributes } from '@yunbian/observability';
import { WorkerEnv, type AgentToWorker, type StartInstanceCommand, type WorkerToAgent } from '@yunbian/contracts';

// Tracing starts before Nest and the services' dependencies load. The resource names the
// node only: the instances in this process differ, and their spans name their subjects.
instrument('yunbian-worker', {
  [YunbianAttributes.nodeId]: process.env[WorkerEnv.nodeId] ?? 'unknown',
  'service.instance.id': `shared@${process.env[WorkerEnv.nodeId] ?? 'unknown'}`,
});

import 'reflect-metadata';
import { DEFAULT_NATS_URL, envInt, JsonLogger, setLogFields } from '@yunbian/common';
import { NatsTransport, PayloadStore } from '@yunbian/transport';
import { findService, startInstance, type RunningInstance } from './instance-runtime';
import { reportMetrics } from './worker-metrics';

interface Hosted {
  command: StartInstanceCommand;
  started: Promise<RunningInstance | undefined>;
  stopping?: Promise<void>;
  /** Set once the instance runs; its load is read on every report tick. */
  host?: RunningInstance['host'];
  reportedLoad: string;
  /** The served model last announced (JSON), to announce a hot swap. */
  reportedModel?: string;
}

/**
 * The shared worker: one process per node hosting every instance whose service declares
 * `isolation: 'shared'`, each with its own subjects, concurrency, queue, load reports and
 * drain, over one NATS connection. The agent adds and removes instances over IPC; an
 * instance that fails to start is let go alone, while a crash of the process fails all of
 * them (the agent restarts them). When the agent goes away the channel closes and every
 * instance drains, so no orphan keeps serving.
 */
async function main(): Promise<void> {
  const nodeId = process.env[WorkerEnv.nodeId];
  if (!nodeId) {
    process.stderr.write(`shared worker: ${WorkerEnv.nodeId} is required (workers are started by an agent)\n`);
    process.exit(2);
  }
  setLogFields({ service: 'yunbian-worker', node_id: nodeId, worker: 'shared' });
  const logger = new JsonLogger('shared-worker');
  const send = (message: WorkerToAgent) => process.send?.(message);
  const hosted = new Map<string, Hosted>();
  // The agent sends its first instances right after the fork; they wait here until NATS is up.
  const early: AgentToWorker[] = [];
  let dispatch = (message: AgentToWorker): void => void early.push(message);
  process.on('message', (message: AgentToWorker) => dispatch(message));

  const transport = await NatsTransport.connect({
    servers: process.env.NATS_URL ?? DEFAULT_NATS_URL,
    name: `shared worker ${nodeId}`,
    propagator: new NatsTracePropagator(),
    inboxPrefix: process.env[WorkerEnv.inboxPrefix] || undefined,
  });
  const payloads = await PayloadStore.open(transport);

  const add = (command: StartInstanceCommand, file?: string) => {
    const instanceId = command.instanceId;
    if (hosted.has(instanceId)) return;
    const entry: Hosted = { command, reportedLoad: '', started: Promise.resolve(undefined) };
    entry.started = (async () => {
      try {
        const running = await startInstance({
          command,
          entry: findService(command.service, command.version, file),
          nodeId,
          transport,
          payloads,
          logger: new JsonLogger(`instance ${instanceId}`),
        });
        entry.host = running.host;
        if (!entry.stopping) {
          entry.reportedModel = JSON.stringify(running.host.model ?? null);
          const model = running.host.model;
          send({ type: 'ready', instanceId, subjects: running.host.subjects, ...(model ? { model } : {}) });
          logger.info('instance ready', { instance_id: instanceId, subjects: running.host.subjects });
        }
        return running;
      } catch (err) {
        const error = (err as Error).message;
        logger.error('instance failed to start', { instance_id: instanceId, error });
        hosted.delete(instanceId);
        send({ type: 'failed', instanceId, error });
        send({ type: 'removed', instanceId, clean: false });
        return undefined;
      }
    })();
    hosted.set(instanceId, entry);
  };

  const remove = (instanceId: string, timeoutMs: number): Promise<void> => {
    const entry = hosted.get(instanceId);
    if (!entry) {
      send({ type: 'removed', instanceId, clean: true });
      return Promise.resolve();
    }
    entry.stopping ??= (async () => {
      const running = await entry.started;
      if (!running) return; // failed to start; already reported as removed
      const clean = await running.stop(timeoutMs).catch((err: Error) => {
        logger.warn('instance did not stop cleanly', { instance_id: instanceId, error: err.message });
        return false;
      });
      if (!clean) logger.warn('drain deadline passed with requests still running', { instance_id: instanceId });
      hosted.delete(instanceId);
      send({ type: 'removed', instanceId, clean });
    })();
    return entry.stopping;
  };

  const loadTimer = setInterval(
    () => {
      for (const [instanceId, entry] of hosted) {
        if (!entry.host) continue;
        const model = JSON.stringify(entry.host.model ?? null);
        if (entry.reportedModel !== undefined && model !== entry.reportedModel) {
          entry.reportedModel = model;
          send({ type: 'model', instanceId, model: entry.host.model });
        }
        const load = entry.host.load;
        const current = JSON.stringify(load);
        if (current === entry.reportedLoad) continue;
        entry.reportedLoad = current;
        send({ type: 'load', instanceId, ...load });
      }
    },
    envInt('YUNBIAN_LOAD_REPORT_MS', 250),
  );
  const metricsTimer = reportMetrics(send);

  let stopping = false;
  const stopAll = async (reason: string, timeoutMs: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(loadTimer);
    clearInterval(metricsTimer);
    logger.info('draining every instance', { reason, timeoutMs, instances: hosted.size });
    await Promise.all([...hosted.keys()].map((id) => remove(id, timeoutMs)));
    await transport.drain();
    await shutdownTracing();
    process.exit(0);
  };

  dispatch = (message) => {
    if (stopping) return;
    if (message?.type === 'add') add(message.command, message.file);
    else if (message?.type === 'remove') void remove(message.instanceId, message.timeoutMs);
    else if (message?.type === 'drain') void stopAll('agent asked to drain', message.timeoutMs);
  };
  for (const message of early.splice(0)) dispatch(message);
  process.on('disconnect', () => void stopAll('agent went away', 5_000));
  process.on('SIGTERM', () => void stopAll('SIGTERM', 10_000));
  process.on('SIGINT', () => void stopAll('SIGINT', 10_000));
  logger.info('shared worker up');
}

main().catch((err: Error) => {
  process.stderr.write(`shared worker: ${err.message}\n`);
  process.exit(1);
});
