import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { envInt, JsonLogger } from '@yunbian/common';
import type { SplitLossyCost, SplitPlan, SplitPlanRequest, SplitRequest } from '@yunbian/contracts';
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
import { YunbianError } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { ModelsService } from './models.service';
import { runSplitChild, type SplitChildLimits } from './split-child';
import { resolveSide, sideLink, sideTimes, type SplitSide } from './split-sides';

/** Settings from the environment, read once at start. */
export function splitSettings(env: NodeJS.ProcessEnv = process.env): SplitChildLimits & { profileRuns: number } {
  return {
    timeoutMs: envInt('YUNBIAN_SPLIT_TIMEOUT_MS', 120_000, env),
    maxMemoryMb: envInt('YUNBIAN_SPLIT_MEMORY_MB', 1536, env),
    profileRuns: envInt('YUNBIAN_SPLIT_PROFILE_RUNS', 5, env),
  };
}

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
export class SplitService {
  private readonly logger = new JsonLogger('split');
  private readonly settings = splitSettings();
  private readonly dir = path.join(os.tmpdir(), `yb-split-${process.pid}`);
  private readonly loaded = new Map<string, Promise<Loaded>>();
  private readonly sizes = new Map<string, Promise<TensorSizes>>();
  private readonly localProfiles = new Map<string, Promise<MeasuredProfile>>();
  private readonly parts = new Map<string, { head: Buffer; tail: Buffer; tensors: string[] }>();

  constructor(
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(CatalogService) private readonly catalog: CatalogService,
  ) {}

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
    const needsLocal = [first, second].some((s) => !s.profileKeys.some((k) => meta.profiles?.[k]));
    const local = needsLocal ? (await this.localProfile(loaded, inputShape)).nodes : {};
    const a = sideTimes(first, graph, meta.profiles, local);
    const b = sideTimes(second, graph, meta.profiles, local);
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
