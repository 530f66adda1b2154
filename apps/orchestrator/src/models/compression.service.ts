import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { envInt, JsonLogger } from '@yunbian/common';
import {
  COMPRESSION_STAGING_BUCKET,
  type CompressRequest,
  type CompressionJob,
  type CompressionReport,
  type DatasetMeta,
  type NodeClassLatency,
  type ProfileTarget,
} from '@yunbian/contracts';
import { compressionDeltas, fetchDataset, encodeDataset, sha256Hex, type ModelMeta } from '@yunbian/models';
import { createObjectStore, NatsTransport, YunbianError } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { DatasetsService } from '../datasets/datasets.service';
import { compressProblems } from './compression-request';
import type { CompressionOutcome, CompressionReply, CompressionTask } from './compression.process';
import { ModelsService } from './models.service';
import { measureNodeClasses, profileOverNats, registeredTarget } from './node-latency';

/** Object store bucket holding compressed files while nodes profile them, before they are registered. */
const COMPRESS_SCRIPT = path.join(__dirname, 'compression.process.js');
/** Jobs kept in memory (finished ones beyond this are forgotten, oldest first). */
const KEPT_JOBS = 100;

export interface CompressionSettings {
  /** Bound on the recipe's child process (training included). */
  timeoutMs: number;
  /** Bound on one node's profile of both files. */
  profileTimeoutMs: number;
}

export function compressionSettings(env: NodeJS.ProcessEnv = process.env): CompressionSettings {
  return {
    timeoutMs: envInt('YUNBIAN_COMPRESSION_TIMEOUT_MS', 15 * 60_000, env),
    profileTimeoutMs: envInt('YUNBIAN_COMPRESSION_PROFILE_TIMEOUT_MS', 120_000, env),
  };
}

/**
 * Compression jobs: `POST /models/{name}/versions/{v}/compress` answers 202 with a job at once;
 * the recipe runs in a child process (bounded by YUNBIAN_COMPRESSION_TIMEOUT_MS), the result is
 * staged in the object store and profiled, parent next to it, by one live node of each node
 * class, then registered through the model registry as the next version with `derivedFrom`
 * and the report. Jobs live in this orchestrator's memory; the registered version is durable.
 */
@Injectable()
export class CompressionService implements OnModuleInit {
  private readonly logger = new JsonLogger('compression');
  private readonly settings = compressionSettings();
  private readonly jobs = new Map<string, CompressionJob>();
  private staging!: ObjectStore;
  /** One job runs at a time: two would share the orchestrator's CPU and the nodes' profiles. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(DatasetsService) private readonly datasets: DatasetsService,
    @Inject(CatalogService) private readonly catalog: CatalogService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.staging = await createObjectStore(new Objm(this.transport.connection), COMPRESSION_STAGING_BUCKET, {
      ttl: 24 * 3600 * 1e9,
    });
  }

  /** Checks the request and starts the job; the job (status running) comes back at once. */
  start(name: string, version: number, request: CompressRequest): CompressionJob {
    const parent = this.models.get(name, version);
    const names = this.datasets.list().map((d) => d.name);
    const find = (n: string) => this.datasets.list().find((d) => d.name === n);
    const input = parent.inputs.length === 1 && parent.inputs[0].isTensor ? parent.inputs[0].shape : undefined;
    const problems = compressProblems(request, find, names, input?.length ? input : undefined);
    if (problems.length)
      throw new YunbianError('VALIDATION_FAILED', `request body is invalid: ${problems.join('; ')}`, { problems });
    const job: CompressionJob = {
      id: randomUUID(),
      status: 'running',
      model: { name, version },
      request,
      stage: 'queued',
      createdAt: new Date().toISOString(),
    };
    this.jobs.set(job.id, job);
    this.forgetOld();
    const run = this.queue.catch(() => undefined).then(() => this.run(job, parent));
    this.queue = run;
    return job;
  }

  get(id: string): CompressionJob {
    const job = this.jobs.get(id);
    if (!job)
      throw new YunbianError(
        'NOT_FOUND',
        `no compression job ${id} on this orchestrator (jobs are kept in memory, the last ${KEPT_JOBS})`,
      );
    return job;
  }

  list(): CompressionJob[] {
    return [...this.jobs.values()].reverse();
  }

  private forgetOld(): void {
    const finished = [...this.jobs.values()].filter((j) => j.status !== 'running');
    for (const j of finished.slice(0, Math.max(0, this.jobs.size - KEPT_JOBS))) this.jobs.delete(j.id);
  }

  private async run(job: CompressionJob, parent: ModelMeta): Promise<void> {
    const started = Date.now();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'yb-compress-'));
    const stagingName = `${job.id}.onnx`;
    try {
      job.stage = 'fetching the model and datasets';
      const parentFile = path.join(dir, 'parent.onnx');
      await writeFile(parentFile, await readStream(await this.models.content(parent)));
      const used: Record<string, DatasetMeta> = {};
      const files: CompressionTask['datasets'] = {};
      for (const [role, dsName] of Object.entries(job.request.datasets)) {
        const { meta, samples } = await fetchDataset(this.transport, dsName);
        const file = path.join(dir, `${role}.bin`);
        await writeFile(file, encodeDataset(samples));
        used[role] = meta;
        files[role] = { file, count: meta.count, shape: meta.shape, labelled: meta.labelled };
      }
      job.stage = `running the ${job.request.recipe} recipe`;
      const outFile = path.join(dir, 'compressed.onnx');
      const outcome = await this.runRecipe({
        recipe: job.request.recipe,
        options: job.request.options ?? {},
        parentFile,
        outFile,
        datasets: files,
      });
      const bytes = await readFile(outFile);
      job.stage = 'measuring latency on nodes';
      const sha256 = sha256Hex(bytes);
      await this.staging.putBlob({ name: stagingName }, bytes);
      const latency = await this.measure(job, parent, {
        label: 'compressed',
        bucket: COMPRESSION_STAGING_BUCKET,
        object: stagingName,
        sha256,
      });
      const report = this.report(job, outcome, used, latency, started);
      job.stage = 'registering the new version';
      const { meta, created } = await this.models.upload(parent.name, Readable.from([bytes]), bytes.length, {
        derivedFrom: { name: parent.name, version: parent.version, recipe: job.request.recipe },
        compression: report,
      });
      // The same bytes already registered (a repeated, deterministic job): that version is the result.
      job.result = { name: meta.name, version: meta.version, ...(created ? {} : { existing: true }) };
      job.report = meta.compression ?? report;
      job.status = 'succeeded';
      job.stage = 'done';
      this.logger.info('model compressed', {
        name: parent.name,
        from: parent.version,
        to: meta.version,
        recipe: job.request.recipe,
        size_ratio: report.sizeRatio,
        accuracy_delta_points: report.accuracyDeltaPoints,
      });
    } catch (err) {
      const e = err instanceof YunbianError ? err : new YunbianError('INTERNAL', (err as Error).message);
      job.status = 'failed';
      job.error = { code: e.code, message: `${job.stage}: ${e.message}` };
      this.logger.warn('compression failed', { job: job.id, stage: job.stage, error: e.message });
    } finally {
      job.finishedAt = new Date().toISOString();
      await this.staging.delete(stagingName).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }

  private report(
    job: CompressionJob,
    outcome: CompressionOutcome,
    used: Record<string, DatasetMeta>,
    latency: NodeClassLatency[],
    started: number,
  ): CompressionReport {
    const { parent, compressed } = outcome;
    return {
      recipe: job.request.recipe,
      options: { ...(job.request.options ?? {}) },
      parent,
      compressed,
      ...compressionDeltas(parent, compressed),
      validation: { dataset: used.validation.name, samples: used.validation.count, privacy: used.validation.privacy },
      datasets: Object.fromEntries(
        Object.entries(used).map(([role, m]) => [role, { name: m.name, privacy: m.privacy, samples: m.count }]),
      ),
      ...(outcome.kernels ? { kernels: outcome.kernels } : {}),
      latency,
      details: outcome.details,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  }

  private runRecipe(task: CompressionTask): Promise<CompressionOutcome> {
    const timeoutMs = this.settings.timeoutMs;
    return new Promise((resolve, reject) => {
      const child = fork(COMPRESS_SCRIPT, [], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { PATH: process.env.PATH ?? '', OMP_NUM_THREADS: '1' },
      });
      let reply: CompressionReply | undefined;
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => {
        if (stderr.length < 4000) stderr += c.toString();
      });
      child.on('message', (m: CompressionReply) => (reply = m));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (reply?.ok) resolve(reply.outcome);
        else if (reply) reject(new YunbianError('BAD_REQUEST', reply.error));
        else if (signal === 'SIGKILL')
          reject(
            new YunbianError(
              'TIMEOUT',
              `the recipe took longer than ${timeoutMs} ms (YUNBIAN_COMPRESSION_TIMEOUT_MS) and was stopped`,
            ),
          );
        else
          reject(
            new YunbianError(
              'INTERNAL',
              `the recipe's process exited (${signal ?? code}) without an answer: ${stderr.trim().slice(-1000)}`,
            ),
          );
      });
      child.send(task);
    });
  }

  /** One live node per requested class (tier) profiles parent and result; classes with none say so. */
  private measure(job: CompressionJob, parent: ModelMeta, compressed: ProfileTarget): Promise<NodeClassLatency[]> {
    const timeoutMs = this.settings.profileTimeoutMs;
    return measureNodeClasses(
      {
        nodes: () => this.catalog.listNodes(),
        profile: profileOverNats(this.transport, timeoutMs),
        measuring: (nodeId, nodeClass) => (job.stage = `measuring latency on node ${nodeId} (${nodeClass})`),
      },
      registeredTarget(parent),
      compressed,
      job.request.options ?? {},
      timeoutMs,
    );
  }
}

async function readStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
