import { fork } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Objm } from '@nats-io/obj';
import type { JsonLogger } from '@yunbian/common';
import {
  nodeCpuCapacity,
  type LatencyFigure,
  type NodeDescriptor,
  type ProfileModelsReply,
  type ProfileModelsRequest,
} from '@yunbian/contracts';
import { YunbianError, type NatsTransport } from '@yunbian/transport';
import type { ResourceEnforcer } from './cgroups';
import type { ProfileJob, ProfileJobReply } from './model-profile.process';
import { PROFILE_LIMITS, profileRequestProblem } from './profile-figures';

const PROFILE_SCRIPT = path.join(__dirname, 'model-profile.process.js');

/**
 * Times models on this node for the registry's compression reports (whole-model latencies)
 * and for split plans (each compute node's time, `nodeTimes`): fetches each file from
 * the object store (checking its sha256), then forks a process that loads and runs them,
 * placed in the node's cgroup so the node's CPU limit applies as it does to its instances.
 * One profile at a time: two would share the node's CPU and slow each other.
 */
export class ModelProfiler {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly transport: NatsTransport,
    private readonly node: NodeDescriptor,
    private readonly limits: ResourceEnforcer,
    private readonly logger: JsonLogger,
    private readonly script = PROFILE_SCRIPT,
  ) {}

  profile(request: ProfileModelsRequest): Promise<ProfileModelsReply> {
    const problem = profileRequestProblem(request);
    if (problem) return Promise.reject(new YunbianError('BAD_REQUEST', `profile request: ${problem}`));
    const run = this.queue.catch(() => undefined).then(() => this.run(request));
    this.queue = run;
    return run;
  }

  private async run(request: ProfileModelsRequest): Promise<ProfileModelsReply> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'yb-profile-'));
    try {
      const files: ProfileJob['files'] = [];
      for (const target of request.models) {
        const store = await new Objm(this.transport.jetstream()).open(target.bucket);
        const bytes = await store.getBlob(target.object);
        if (!bytes)
          throw new YunbianError('NOT_FOUND', `object ${target.bucket}/${target.object} (${target.label}) is missing`);
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        if (sha256 !== target.sha256)
          throw new YunbianError(
            'INTERNAL',
            `object ${target.bucket}/${target.object} hashes to ${sha256}, not ${target.sha256}`,
          );
        const file = path.join(dir, `${files.length}.onnx`);
        await writeFile(file, bytes);
        files.push({ label: target.label, file });
      }
      const job: ProfileJob = {
        files,
        batchSizes: request.batchSizes,
        runs: request.runs ?? {},
        warmup: request.warmup ?? 20,
        ...(request.nodeTimes ? { nodeTimes: request.nodeTimes } : {}),
      };
      const { results, nodeTimes } = await this.fork(
        job,
        Math.min(request.timeoutMs ?? 120_000, PROFILE_LIMITS.timeoutMs),
      );
      const cpuEnforced = this.limits.enforcement.cpu && this.node.limits?.cpu !== undefined;
      this.logger.info('models profiled', {
        models: files.map((f) => f.label),
        ...(nodeTimes ? { node_times: true } : { batch_sizes: request.batchSizes }),
      });
      return {
        nodeId: this.node.id,
        cpu: nodeCpuCapacity(this.node),
        cpuEnforced,
        results,
        ...(nodeTimes ? { nodeTimes } : {}),
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private fork(
    job: ProfileJob,
    timeoutMs: number,
  ): Promise<{ results: Record<string, LatencyFigure[]>; nodeTimes?: ProfileModelsReply['nodeTimes'] }> {
    const group = `profile-${randomUUID().slice(0, 8)}`;
    return new Promise((resolve, reject) => {
      const child = fork(this.script, [], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { PATH: process.env.PATH ?? '', OMP_NUM_THREADS: '1' },
      });
      // Into the node's group at once, before onnxruntime loads (no instance resources: the node's limit).
      if (child.pid !== undefined) this.limits.attach(group, child.pid, undefined);
      let reply: ProfileJobReply | undefined;
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => {
        if (stderr.length < 2000) stderr += c.toString();
      });
      child.on('message', (m: ProfileJobReply) => (reply = m));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.limits.release(group);
        if (reply?.ok) resolve({ results: reply.results, nodeTimes: reply.nodeTimes });
        else if (reply) reject(new YunbianError('BAD_REQUEST', `profiling failed: ${reply.error}`));
        else if (signal === 'SIGKILL')
          reject(new YunbianError('TIMEOUT', `profiling took longer than ${timeoutMs} ms and was stopped`));
        else
          reject(
            new YunbianError(
              'INTERNAL',
              `the profiling process exited (${signal ?? code}) without an answer: ${stderr.trim()}`,
            ),
          );
      });
      child.send(job);
    });
  }
}
