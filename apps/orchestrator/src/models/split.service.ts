import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { envInt, JsonLogger } from '@yunbian/common';
import {
  Subjects,
  type NodeComputeProfile,
  type NodeRecord,
  type ProfileModelsReply,
  type ProfileModelsRequest,
  type SplitLossyCost,
  type SplitPlan,
  type SplitPlanRequest,
  type SplitProfileRequest,
  type SplitRequest,
} from '@yunbian/contracts';
import { effectiveCpu, nodeClassOf } from '@yunbian/placement';
import { MODEL_NAME_PATTERN, type ModelMeta } from '@yunbian/models';
import { decodeModel, encodeModel, type OnnxModel } from '@yunbian/onnx';
import {
  candidateCuts,
  chooseCut,
  computeGraph,
  cutFromId,
  resolveInputShape,
  splitModel,
  type ComputeGraph,
  type MeasuredProfile,
  type TensorSizes,
} from '@yunbian/split';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { ModelsService } from './models.service';
import { runSplitChild, type SplitChildLimits } from './split-child';
import { profileFits, profilesToTake, type ProfileTask, type ProfileWanted } from './split-profiles';
import { resolveSide, sideLink, sideTimes, type SplitSide } from './split-sides';

/** Settings from the environment, read once at start. */
export function splitSettings(
  env: NodeJS.ProcessEnv = process.env,
): SplitChildLimits & { profileRuns: number; autoProfileMs: number } {
  return {
    timeoutMs: envInt('YUNBIAN_SPLIT_TIMEOUT_MS', 120_000, env),
    maxMemoryMb: envInt('YUNBIAN_SPLIT_MEMORY_MB', 1536, env),
    profileRuns: envInt('YUNBIAN_SPLIT_PROFILE_RUNS', 5, env),
    // How often joined node classes are checked for missing profiles (0: never automatically).
    autoProfileMs: envInt('YUNBIAN_SPLIT_AUTO_PROFILE_MS', 2_000, env, { min: 0 }),
  };
}

/** Model versions (and input shapes) asked split plans for that joining nodes profile, most recent kept. */
const WANTED_MODELS = 8;

/** Sample inputs a lossy transfer's cost is measured on. */
const LOSSY_SAMPLES = 8;
/** Models (decoded, with their DAG) and head/tail pairs kept in memory. */
const CACHED_MODELS = 4;
const CACHED_PARTS = 16;

interface Loaded {
  meta: ModelMeta;
  model: OnnxModel;
  graph: ComputeGraph;
  file: string;
}

/**
 * Split plans and split parts of registered models. onnxruntime runs only in child processes
 * (tensor sizes, the orchestrator's per-node profile, lossy costs); what they measured is
 * kept per (model sha256, input shape), and head/tail bytes per (model sha256, cut id).
 */
@Injectable()
export class SplitService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('split');
  private readonly settings = splitSettings();
  private readonly dir = path.join(os.tmpdir(), `yb-split-${process.pid}`);
  private readonly loaded = new Map<string, Promise<Loaded>>();
  private readonly sizes = new Map<string, Promise<TensorSizes>>();
  private readonly localProfiles = new Map<string, Promise<MeasuredProfile>>();
  private readonly parts = new Map<string, { head: Buffer; tail: Buffer; tensors: string[] }>();

  /** Versions asked a split plan for (most recent last): what joining nodes profile. */
  private readonly wanted = new Map<string, ProfileWanted & { since: number }>();
  /** Auto-profiles tried (stored or failed), so a failing one is not retried on every tick. */
  private readonly tried = new Set<string>();
  private autoTimer?: NodeJS.Timeout;
  private autoRunning = false;
  /** Alive node ids at the last look, and nodes that joined since that still may need profiles. */
  private seen?: Set<string>;
  private readonly joined = new Map<string, number>();

  constructor(
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENGINE_CONFIG) private readonly engine: EngineConfig,
  ) {}

  onModuleInit(): void {
    // Profiles are the cloud's to take and store (the registry's); a site engine plans with them.
    if (this.settings.autoProfileMs > 0 && this.engine.mode === 'cloud') {
      this.autoTimer = setInterval(() => void this.autoProfile(), this.settings.autoProfileMs);
      this.autoTimer.unref();
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.autoTimer);
  }

  async plan(name: string, version: number, body: SplitPlanRequest): Promise<SplitPlan> {
    const loaded = await this.load(name, version);
    const { meta, model, graph } = loaded;
    const inputShape = this.inputShape(loaded, body.inputShape);
    const nodes = this.catalog.listNodes();
    const [first, second] = body.between.map((asked, i) => {
      try {
        return resolveSide(asked, nodes);
      } catch (err) {
        throw new YunbianError('BAD_REQUEST', `between[${i}]: ${(err as Error).message}`);
      }
    }) as [SplitSide, SplitSide];
    if (first.node && second.node && first.node.id === second.node.id && body.between[0] === body.between[1])
      throw new YunbianError(
        'BAD_REQUEST',
        `between names ${body.between[0]} twice: a split needs two different nodes`,
      );
    const sizes = await this.tensorSizes(loaded, inputShape);
    this.want({ name, version, sha256: meta.sha256, inputShape });
    const needsLocal = [first, second].some(
      (s) => !s.profileKeys.some((k) => profileFits(meta.profiles?.[k], inputShape)),
    );
    const local = needsLocal ? (await this.localProfile(loaded, inputShape)).nodes : {};
    const a = sideTimes(first, graph, meta.profiles, local, inputShape);
    const b = sideTimes(second, graph, meta.profiles, local, inputShape);
    const measured = sideLink(first, second, nodes);
    const link = body.link ? { ...body.link, source: 'request' as const } : measured;
    const objective = body.objective ?? 'latency';
    const lossy = body.lossy ?? false;
    const problem = {
      graph,
      sizes,
      first: a.times,
      second: b.times,
      link: { rttMs: link.rttMs, mbps: link.mbps },
      lossy,
    };
    const { candidates, chosen, reason } = chooseCut(problem, objective, candidateCuts(problem));
    const notes = [a.profile.note, b.profile.note, body.link ? undefined : measured.note].filter(
      (n): n is string => !!n,
    );
    notes.push(
      'the result stays where the tail ends (its return is not counted); transfers are the tensors at float32' +
        (lossy ? `, float32 ones narrowed to ${lossy}` : ''),
    );
    let lossyCost: SplitLossyCost | undefined;
    if (lossy) {
      lossyCost =
        chosen.transferBytes === 0
          ? { mode: lossy, samples: 0, sampleSource: 'nothing crosses this cut', maxAbsDiff: 0, top1Agreement: 1 }
          : (
              await runSplitChild(
                { kind: 'lossy', file: loaded.file, inputShape, cut: chosen.id, mode: lossy, samples: LOSSY_SAMPLES },
                `lossy transfer of ${name} v${version}`,
                this.settings,
              )
            ).lossy;
    }
    const constantNodes = model.graph.nodes.filter((n) => n.opType === 'Constant').length;
    return {
      model: { name, version, sha256: meta.sha256 },
      between: body.between,
      link: { rttMs: link.rttMs, mbps: link.mbps, source: link.source },
      inputShape,
      objective,
      lossy,
      profiles: [a.profile, b.profile],
      graph: {
        computeNodes: graph.nodes.length,
        constantNodes,
        tensors: Object.keys(sizes).length,
        inputBytes: graph.inputs.reduce((s, t) => s + (sizes[t]?.bytes ?? 0), 0),
      },
      candidates,
      chosen,
      reason,
      ...(lossyCost ? { lossyCost } : {}),
      notes,
    };
  }

  /** The link from one catalogue node to another as placement measures it now (what a plan would use). */
  currentLink(firstId: string, secondId: string): { rttMs: number; mbps: number; source: string } {
    const nodes = this.catalog.listNodes();
    const link = sideLink(resolveSide(firstId, nodes), resolveSide(secondId, nodes), nodes);
    return { rttMs: link.rttMs, mbps: link.mbps, source: link.source };
  }

  /**
   * Registers the head and the tail of a cut as versions of `<name>-head` and `<name>-tail`
   * (not of `name`: a part is no drop-in replacement, so it must not become the latest version),
   * each with `derivedFrom` the parent and `split` the cut. The same cut again returns them.
   */
  async split(
    name: string,
    version: number,
    body: SplitRequest,
  ): Promise<{
    parent: { name: string; version: number; sha256: string };
    cut: string;
    tensors: string[];
    head: ModelMeta;
    tail: ModelMeta;
    created: boolean;
  }> {
    const loaded = await this.load(name, version);
    const { meta, model, graph } = loaded;
    let cut;
    try {
      cut = cutFromId(graph, body.cut);
    } catch (err) {
      throw new YunbianError('BAD_REQUEST', `${name} v${version}: ${(err as Error).message}`);
    }
    if (cut.kind === 'all-first' || cut.kind === 'all-second')
      throw new YunbianError(
        'BAD_REQUEST',
        `cut ${cut.id} runs the whole model on one node: there is nothing to split; deploy ${name} v${version} there`,
      );
    for (const part of ['head', 'tail'])
      if (!MODEL_NAME_PATTERN.test(`${name}-${part}`))
        throw new YunbianError('BAD_REQUEST', `${name}-${part} is not a valid model name (at most 128 characters)`);
    const key = `${meta.sha256}|${cut.id}`;
    let parts = this.parts.get(key);
    if (!parts) {
      const sizes = await this.tensorSizes(loaded, this.inputShape(loaded, body.inputShape));
      const split = splitModel(model, graph, cut, sizes, meta.sha256);
      parts = { head: encodeModel(split.head!), tail: encodeModel(split.tail!), tensors: split.tensors };
      remember(this.parts, key, parts, CACHED_PARTS);
    }
    const register = (part: 'head' | 'tail', bytes: Buffer) =>
      this.models.upload(`${name}-${part}`, Readable.from([bytes]), bytes.length, {
        derivedFrom: { name, version, recipe: `split-${part}:${cut.id}` },
        split: { part, cut: cut.id, tensors: parts.tensors, parentSha256: meta.sha256 },
      });
    const head = await register('head', parts.head);
    const tail = await register('tail', parts.tail);
    this.logger.info('split registered', {
      name,
      version,
      cut: cut.id,
      head: head.meta.version,
      tail: tail.meta.version,
    });
    return {
      parent: { name, version, sha256: meta.sha256 },
      cut: cut.id,
      tensors: parts.tensors,
      head: head.meta,
      tail: tail.meta,
      created: head.created || tail.created,
    };
  }

  /**
   * Measures the version's per-compute-node times on a node (`nodeId`) or on a node of a class
   * (a tier: its most constrained alive node; or a placement class key), in the node's cgroup
   * under its CPU limit, and stores them in the version's `profiles` under the node's class key
   * and under the tier asked for (or the node's tier when it has no profile yet).
   */
  async profile(
    name: string,
    version: number,
    body: SplitProfileRequest,
  ): Promise<{
    model: { name: string; version: number };
    nodeId: string;
    stored: string[];
    profile: NodeComputeProfile;
  }> {
    const loaded = await this.load(name, version);
    const inputShape = this.inputShape(loaded, body.inputShape);
    const node = this.profileNode(body);
    const stored = await this.measureOn(loaded.meta, node, inputShape, body.runs, body.nodeClass);
    return { model: { name, version }, nodeId: node.id, stored: stored.keys, profile: stored.profile };
  }

  private profileNode(body: SplitProfileRequest): NodeRecord {
    const nodes = this.catalog.listNodes();
    const alive = nodes.filter((n) => n.status === 'alive');
    if (body.nodeId) {
      const node = nodes.find((n) => n.id === body.nodeId);
      if (!node)
        throw new YunbianError(
          'BAD_REQUEST',
          `nodeId: no node ${body.nodeId} in the catalogue; nodes: ${nodes.map((n) => n.id).join(', ') || 'none'}`,
        );
      if (node.status !== 'alive')
        throw new YunbianError('UNAVAILABLE', `node ${node.id} is ${node.status}: it cannot profile now`);
      return node;
    }
    const asked = body.nodeClass!;
    const of = alive
      .filter((n) => n.tier === asked || nodeClassOf(n) === asked)
      // The most constrained node of the class: what the class guarantees.
      .sort((a, b) => effectiveCpu(a) - effectiveCpu(b) || a.id.localeCompare(b.id));
    if (!of[0])
      throw new YunbianError(
        'UNAVAILABLE',
        `nodeClass: no alive node of ${asked}; classes alive: ${[...new Set(alive.flatMap((n) => [n.tier, nodeClassOf(n)]))].join(', ') || 'none'}`,
      );
    return of[0];
  }

  private async measureOn(
    meta: ModelMeta,
    node: NodeRecord,
    inputShape: Record<string, number[]>,
    runs = this.settings.profileRuns,
    asked?: string,
  ): Promise<{ keys: string[]; profile: NodeComputeProfile }> {
    const request: ProfileModelsRequest = {
      models: [{ label: 'model', bucket: meta.object.bucket, object: meta.object.name, sha256: meta.sha256 }],
      batchSizes: [],
      runs: {},
      timeoutMs: this.settings.timeoutMs,
      nodeTimes: { inputShape, runs },
    };
    let reply: ProfileModelsReply;
    try {
      reply = await this.transport.request<ProfileModelsReply>(Subjects.nodeProfileModels(node.id), request, {
        timeoutMs: this.settings.timeoutMs + 10_000,
      });
    } catch (err) {
      throw new YunbianError(
        err instanceof YunbianError ? err.code : 'UNAVAILABLE',
        `node ${node.id} did not profile ${meta.name} v${meta.version}: ${(err as Error).message}`,
      );
    }
    const measured = reply.nodeTimes?.model;
    if (!measured)
      throw new YunbianError(
        'INTERNAL',
        `node ${node.id} answered without per-node times: its agent predates split profiles; upgrade it`,
      );
    const profile: NodeComputeProfile = {
      nodes: measured.nodes,
      inputShape,
      measuredAt: new Date().toISOString(),
      source: 'measured',
      runs: measured.runs,
      nodeId: node.id,
      cpu: reply.cpu,
      cpuEnforced: reply.cpuEnforced,
      totalMs: measured.totalMs,
    };
    const keys = [nodeClassOf(node)];
    if (asked && asked !== keys[0]) keys.push(asked);
    else if (!profileFits(meta.profiles?.[node.tier], inputShape)) keys.push(node.tier);
    await this.models.addProfiles(meta.name, meta.version, Object.fromEntries(keys.map((k) => [k, profile])));
    this.logger.info('split profile stored', {
      name: meta.name,
      version: meta.version,
      node_id: node.id,
      classes: keys,
      total_ms: Math.round(measured.totalMs * 100) / 100,
    });
    return { keys, profile };
  }

  private want(w: ProfileWanted): void {
    const key = `${w.name}@${w.version}|${JSON.stringify(w.inputShape)}`;
    const since = this.wanted.get(key)?.since ?? Date.now();
    this.wanted.delete(key);
    this.wanted.set(key, { ...w, since });
    while (this.wanted.size > WANTED_MODELS) this.wanted.delete(this.wanted.keys().next().value!);
  }

  /**
   * Profiles, one at a time, what the class of a node that joined lacks for the versions asked
   * split plans for. Nodes alive when this orchestrator started (its first look) have not joined;
   * for them, and for versions first asked about later, `POST .../profile` measures on demand.
   */
  private async autoProfile(): Promise<void> {
    if (this.autoRunning) return;
    this.autoRunning = true;
    try {
      const alive = this.catalog.listNodes().filter((n) => n.status === 'alive');
      const ids = new Set(alive.map((n) => n.id));
      const now = Date.now();
      if (this.seen) for (const n of alive) if (!this.seen.has(n.id)) this.joined.set(n.id, now);
      for (const id of this.joined.keys()) if (!ids.has(id)) this.joined.delete(id);
      this.seen = ids;
      const stored = (w: ProfileWanted) => {
        try {
          return this.models.get(w.name, w.version).profiles;
        } catch {
          return undefined;
        }
      };
      let task: ProfileTask | undefined;
      for (const node of alive.filter((n) => this.joined.has(n.id))) {
        // What was asked before the node joined: a version asked about later is profiled on demand.
        const before = [...this.wanted.values()].filter((w) => w.since <= this.joined.get(node.id)!);
        [task] = profilesToTake(before, [node], stored, this.tried);
        if (task) break;
        this.joined.delete(node.id);
      }
      if (!task) return;
      this.tried.add(task.key);
      try {
        await this.measureOn(this.models.get(task.want.name, task.want.version), task.node, task.want.inputShape);
      } catch (err) {
        this.logger.warn('split profile not taken', {
          name: task.want.name,
          version: task.want.version,
          node_id: task.node.id,
          error: (err as Error).message,
        });
      }
    } finally {
      this.autoRunning = false;
    }
  }

  private inputShape(loaded: Loaded, given: SplitPlanRequest['inputShape']): Record<string, number[]> {
    try {
      return resolveInputShape(loaded.model, given);
    } catch (err) {
      throw new YunbianError('BAD_REQUEST', `${loaded.meta.name} v${loaded.meta.version}: ${(err as Error).message}`);
    }
  }

  private load(name: string, version: number): Promise<Loaded> {
    const meta = this.models.get(name, version);
    let found = this.loaded.get(meta.sha256);
    if (!found) {
      found = (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of await this.models.content(meta)) chunks.push(chunk as Buffer);
        const bytes = Buffer.concat(chunks);
        await mkdir(this.dir, { recursive: true });
        const file = path.join(this.dir, `${meta.sha256}.onnx`);
        await writeFile(file, bytes);
        let model: OnnxModel;
        let graph: ComputeGraph;
        try {
          model = decodeModel(bytes);
          graph = computeGraph(model);
        } catch (err) {
          throw new YunbianError('BAD_REQUEST', `${name} v${version} cannot be analysed: ${(err as Error).message}`);
        }
        return { meta, model, graph, file };
      })();
      found.catch(() => this.loaded.delete(meta.sha256));
      remember(this.loaded, meta.sha256, found, CACHED_MODELS);
    }
    return found.then((l) => ({ ...l, meta }));
  }

  private tensorSizes(loaded: Loaded, inputShape: Record<string, number[]>): Promise<TensorSizes> {
    const key = `${loaded.meta.sha256}|${JSON.stringify(inputShape)}`;
    let found = this.sizes.get(key);
    if (!found) {
      found = runSplitChild(
        { kind: 'sizes', file: loaded.file, inputShape },
        `measuring the tensors of ${loaded.meta.name} v${loaded.meta.version}`,
        this.settings,
      ).then((r) => r.sizes!);
      found.catch(() => this.sizes.delete(key));
      remember(this.sizes, key, found, 32);
    }
    return found;
  }

  private localProfile(loaded: Loaded, inputShape: Record<string, number[]>): Promise<MeasuredProfile> {
    const key = `${loaded.meta.sha256}|${JSON.stringify(inputShape)}`;
    let found = this.localProfiles.get(key);
    if (!found) {
      found = runSplitChild(
        { kind: 'profile', file: loaded.file, inputShape, runs: this.settings.profileRuns },
        `profiling ${loaded.meta.name} v${loaded.meta.version} on the orchestrator`,
        this.settings,
      ).then((r) => r.profile!);
      found.catch(() => this.localProfiles.delete(key));
      remember(this.localProfiles, key, found, 32);
    }
    return found;
  }
}

/** Sets `key` in an insertion-ordered map, dropping the oldest past `limit`. */
function remember<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > limit) map.delete(map.keys().next().value!);
}
