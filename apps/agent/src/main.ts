import { JsonLogger, setLogFields } from '@yunbian/common';
import { nodeInboxPrefix, serviceRef } from '@yunbian/contracts';
import { loadNodeDescriptor, NodeDescriptorError } from '@yunbian/node-config';
import { NatsTracePropagator, nodeResourceAttributes, shutdownTracing, startTracing } from '@yunbian/observability';
import { NatsTransport } from '@yunbian/transport';
import { AGENT_ENVIRONMENT, AgentConfigError, loadAgentConfig, type AgentConfig } from './agent-config';
import { detectLimits } from './cgroups';
import { InstanceSupervisor } from './instance-supervisor';
import { scanServiceLibrary, type ScannedLibrary } from './service-library-scan';
import { ServiceLibraryWatcher } from './service-library-watch';
import { serveAgentHttp } from './agent-http';
import { ModelProfiler } from './model-profiler';
import { NodeAgent } from './node-agent';
import { nodeCredentialsFile } from './enrol';

const USAGE = `usage: yunbian-agent [--node <descriptor.yaml|json>]
  The node descriptor comes from --node, YUNBIAN_NODE_FILE, and/or YUNBIAN_NODE_* variables.
  ${AGENT_ENVIRONMENT}`;

function descriptorFile(argv: string[]): string | undefined {
  const i = argv.indexOf('--node');
  if (i >= 0) {
    if (!argv[i + 1]) fail(`--node needs a file path\n${USAGE}`);
    return argv[i + 1];
  }
  return process.env.YUNBIAN_NODE_FILE || undefined;
}

function fail(message: string): never {
  process.stderr.write(`yunbian-agent: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  let node;
  try {
    node = loadNodeDescriptor(descriptorFile(process.argv.slice(2)));
  } catch (err) {
    if (err instanceof NodeDescriptorError) fail(err.message);
    throw err;
  }
  // Tracing needs the node's identity for its resource, so it starts once the descriptor is read.
  startTracing({ serviceName: 'yunbian-agent', resourceAttributes: nodeResourceAttributes(node) });
  setLogFields({ service: 'yunbian-agent', node_id: node.id, site: node.site, tier: node.tier });
  const logger = new JsonLogger('agent');
  let config: AgentConfig;
  try {
    config = loadAgentConfig();
  } catch (err) {
    if (err instanceof AgentConfigError) fail(err.message);
    throw err;
  }
  const { natsUrl, heartbeatIntervalMs, bandwidth, sharedWorker } = config;
  // The agent never loads service code itself (see scanServiceLibrary).
  const scanned = await scanServiceLibrary();
  // A directory that does not exist is a typo that would silently hide services: refused at
  // start. A bad file is not: the others are served, and it is logged and announced.
  const missing = scanned.problems.filter((p) => p.kind === 'missing-directory');
  if (missing.length > 0) fail(missing.map((p) => p.message).join('\n'));
  for (const problem of scanned.problems) logger.error('service not loaded', { ...problem });
  const library = scanned.services;
  const services = library.map((e) => e.descriptor);
  const limits = detectLimits({
    nodeId: node.id,
    limits: node.limits,
    mode: config.cgroups,
    warn: (message, fields) => logger.warn(message, fields),
  });
  await limits.start();
  const enforcement = limits.enforcement;
  logger[enforcement.mode === 'enforced' && !enforcement.reason ? 'info' : 'warn']('resource limits', {
    mode: enforcement.mode,
    cpu: enforcement.cpu,
    memory: enforcement.memory,
    reason: enforcement.reason,
    limits: node.limits,
  });

  // The node's own inboxes for the agent and its workers, inside its site's: the site's leaf
  // connection does not export them, so replies published at the site to processes at the site
  // stay there; and the node's credentials allow receiving on these and no other node's.
  const inboxPrefix = nodeInboxPrefix(node.site, node.id);
  try {
    await nodeCredentialsFile(config.enrolment, node, [...new Set(services.map((s) => s.name))], (message, fields) =>
      logger.info(message, fields),
    );
  } catch (err) {
    fail((err as Error).message);
  }
  const transport = await NatsTransport.connect({
    servers: natsUrl,
    name: `agent ${node.id}`,
    // Behind a leaf node the registry's object store is in the hub's domain (the model profiler reads it).
    jetStreamDomain: config.jsDomain,
    inboxPrefix,
    propagator: new NatsTracePropagator(),
    onStatus: (status) => logger.info('nats connection', { status }),
  });
  let agent: NodeAgent | undefined = undefined;
  const supervisor = new InstanceSupervisor({
    nodeId: node.id,
    natsUrl,
    inboxPrefix,
    logger,
    sharedWorker,
    // V8's young generation defaults to 16 MB semi-spaces, most of it resident in an idle
    // worker; 4 MB saves ~6 MB a process and still holds a request's short-lived garbage.
    workerExecArgv: [...process.execArgv, `--max-semi-space-size=${config.workerSemiSpaceMb}`],
    library: libraryFiles(scanned),
    limits,
    onChange: (report, removed) => agent?.instanceChanged(report, removed),
  });
  const watcher = new ServiceLibraryWatcher(scanned, {
    directories: config.serviceDirectories,
    rescanMs: config.serviceRescanMs || 5_000,
    scan: () => scanServiceLibrary(),
    logger,
    onChange: (next) => {
      for (const problem of next.problems) logger.error('service not loaded', { ...problem });
      logger.info('service library changed', { services: next.services.map((e) => serviceRef(e.descriptor)) });
      supervisor.setLibrary(libraryFiles(next));
      agent?.setServiceLibrary(
        next.services.map((e) => e.descriptor),
        next.problems,
      );
    },
  });
  agent = new NodeAgent(
    transport,
    node,
    services,
    supervisor,
    {
      heartbeatIntervalMs,
      reloadServices: async () => {
        const before = watcher.library;
        const after = await watcher.reload();
        return {
          nodeId: node.id,
          services: after.services.map((e) => serviceRef(e.descriptor)),
          problems: after.problems,
          changed: after !== before,
        };
      },
      bandwidth,
      logger,
      limitsEnforcement: enforcement,
      profiler: new ModelProfiler(transport, node, limits, logger),
    },
    scanned.problems,
  );
  await agent.start();
  if (config.serviceRescanMs > 0) watcher.start();
  const http = config.metricsPort
    ? await serveAgentHttp(config.metricsPort, transport, supervisor, node.id)
    : undefined;
  if (http) logger.info('agent metrics and health', { url: http.url });
  logger.info('node joined', {
    services: services.map(
      (s) => `${s.name}@${s.version}${s.isolation === 'shared' && sharedWorker ? ' (shared)' : ''}`,
    ),
    heartbeat_ms: heartbeatIntervalMs,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down: draining instances', { signal });
    watcher.stop();
    await agent.stop(`agent received ${signal}`);
    limits.stop();
    await http?.close();
    await transport.drain();
    await shutdownTracing();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** What the supervisor needs of the library: each service's file and isolation. */
function libraryFiles(scanned: ScannedLibrary) {
  return new Map(
    scanned.services.map((e) => [serviceRef(e.descriptor), { file: e.file, isolation: e.descriptor.isolation }]),
  );
}

main().catch((err: Error) => fail(err.message));
