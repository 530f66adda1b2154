import { NestFactory } from '@nestjs/core';
import { envInt, type JsonLogger } from '@yunbian/common';
import { serviceRef, type StartInstanceCommand } from '@yunbian/contracts';
import {
  DEFAULT_IDEMPOTENCY_WINDOW_MS,
  loadServiceFile,
  loadServiceLibrary,
  ServiceHost,
  type LibraryEntry,
  type ServiceHandler,
} from '@yunbian/service-sdk';
import { DomainOutcomeStores, type NatsTransport, type PayloadStore } from '@yunbian/transport';
import { SERVICE_HANDLER, WorkerModule } from './worker.module';

/**
 * The service `name@version`, from `file` when the agent names it (a worker then loads that
 * one file, not every service of the library with its dependencies), else from the library.
 */
export function findService(name: string, version: string, file?: string): LibraryEntry {
  const ref = serviceRef({ name, version });
  const entry = file
    ? loadServiceFile(file).find((e) => serviceRef(e.descriptor) === ref)
    : loadServiceLibrary().get(ref);
  if (!entry) {
    throw new Error(`service ${ref} is not in this node's service library${file ? ` (looked in ${file})` : ''}`);
  }
  return entry;
}

export interface RunningInstance {
  readonly host: ServiceHost;
  /** Drains (running requests finish, up to `timeoutMs`) and closes the instance's Nest context; true when clean. */
  stop(timeoutMs: number): Promise<boolean>;
}

/**
 * One instance: its service class in its own Nest application context (so services keep
 * their DI and lifecycle hooks) behind a `ServiceHost` on the given connection. Dedicated
 * workers run one; the shared worker runs many over one connection.
 */
export async function startInstance(options: {
  command: StartInstanceCommand;
  entry: LibraryEntry;
  nodeId: string;
  transport: NatsTransport;
  payloads: PayloadStore;
  logger: JsonLogger;
  onLoad?: (load: { inFlight: number; queued: number }) => void;
}): Promise<RunningInstance> {
  const { command, entry, transport } = options;
  const config = command.config ?? {};
  const app = await NestFactory.createApplicationContext(
    WorkerModule.forService(entry.serviceClass, config, transport),
    { logger: options.logger },
  );
  try {
    const handler = app.get<ServiceHandler>(SERVICE_HANDLER);
    const idempotencyWindowMs = envInt('YUNBIAN_IDEMPOTENCY_WINDOW_MS', DEFAULT_IDEMPOTENCY_WINDOW_MS);
    // Only services that declare it pay a KV write per request.
    // Opened per domain on first use (a site engine's requests keep theirs at the site), so an
    // instance starts with its uplink cut.
    const outcomes = entry.descriptor.durableResults
      ? new DomainOutcomeStores(transport, idempotencyWindowMs)
      : undefined;
    const host = new ServiceHost(transport, entry.descriptor, handler, {
      instanceId: command.instanceId,
      nodeId: options.nodeId,
      config,
      payloads: options.payloads,
      onLoad: options.onLoad,
      // Repeated requests of one attempt (its engine re-requests after a reconnect or a restart) run once.
      idempotencyWindowMs,
      outcomes,
    });
    await host.start();
    return {
      host,
      async stop(timeoutMs) {
        const clean = await host.drain(timeoutMs);
        await app.close();
        return clean;
      },
    };
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
}
