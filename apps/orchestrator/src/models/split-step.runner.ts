import { Inject, Injectable } from '@nestjs/common';
import { envInt, JsonLogger } from '@yunbian/common';
import {
  NODE_TIERS,
  type InstanceRecord,
  type NodeRecord,
  type SplitCutEstimate,
  type SplitPlan,
} from '@yunbian/contracts';
import type { SplitRunner, SplitStepCall } from '@yunbian/engine';
import { fromWire, packWire, wireDataBytes, type AnyWireTensor, type WireTensor } from '@yunbian/inference';
import { adoptCut, shouldReplan, type PlanBasis, type ReplanOptions } from '@yunbian/split';
import { YunbianError } from '@yunbian/transport';
import { parseSplitModel } from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { SplitService } from './split.service';

/** What a split step answers: the tail's outputs and the record of the split. */
export interface SplitStepOutput {
  outputs: Record<string, WireTensor>;
  split: SplitStepRecord;
}

/** The run record's account of one split inference: the cut, the tensors, the estimate against what was measured. */
export interface SplitStepRecord {
  model: string;
  /** The nodes the head and the tail ran on. */
  nodes: [string, string];
  cut: string;
  kind: SplitCutEstimate['kind'];
  /** The plan's choice (the cut run differs when the step pinned one). */
  chosen: string;
  reason: string;
  /**
   * Whether this run decided the plan again, and why (or why not); when the plan in force was
   * decided, and the link as measured at this run (`link` is the one the plan was made for).
   */
  replan: { decided: boolean; reason: string; decidedAt: string; linkNow: { rttMs: number; mbps: number } };
  link: { rttMs: number; mbps: number; source: string };
  lossy: false | 'float16' | 'int8';
  parts?: { head: string; tail: string };
  /** The tensors that crossed: `bytes` as float32, `wireBytes` as sent in `dtype`. */
  tensors: { name: string; dims: number[]; bytes: number; dtype: 'float32' | 'float16' | 'int8'; wireBytes: number }[];
  /**
   * What went to the second node: the tensors' bytes as sent (`bytes`; the estimate's
   * `transferBytes` counts the same, plus 8 per int8 tensor for its scale and zero point), as
   * float32 they would have been (`float32Bytes`), and the request's JSON (`messageBytes`: base64
   * and envelope; by payload-store reference past its threshold).
   */
  sent: { dtype: 'float32' | 'float16' | 'int8'; bytes: number; float32Bytes: number; messageBytes: number };
  estimate: Pick<SplitCutEstimate, 'headMs' | 'transferBytes' | 'transferMs' | 'rttMs' | 'tailMs' | 'totalMs'>;
  /** Wall times seen from the orchestrator: the head call, the tail call (tensors' transfer and RTT in it), both. */
  measured: { headMs: number; tailMs: number; totalMs: number };
  notes: string[];
}

const SERVICE = 'onnx-inference';
/** Split plans kept per step's ends and input shape. */
const KEPT_PLANS = 64;

/** Re-planning settings, read once at start (the interval is the agents' bandwidth probe interval's default). */
export function replanSettings(env: NodeJS.ProcessEnv = process.env): ReplanOptions {
  return {
    threshold: envInt('YUNBIAN_SPLIT_REPLAN_PERCENT', 30, env) / 100,
    hysteresis: envInt('YUNBIAN_SPLIT_HYSTERESIS_PERCENT', 5, env) / 100,
    minGainMs: envInt('YUNBIAN_SPLIT_HYSTERESIS_MS', 2, env),
    intervalMs: envInt('YUNBIAN_SPLIT_REPLAN_INTERVAL_MS', 10_000, env),
  };
}

/**
 * Runs split steps for the workflow engine: resolves the two ends to nodes, plans the cut for
 * them (stored profiles, the link measured now, unless the step declares one), registers the
 * head and tail versions, then calls the instances serving them on those nodes, the cut
 * tensors going from the head's reply into the tail's request (by payload reference past the
 * payload store's threshold). Instances are not started here: a missing one is an error saying
 * which to start.
 */
@Injectable()
export class SplitStepRunner implements SplitRunner {
  private readonly logger = new JsonLogger('split-step');
  private readonly plans = new Map<string, { plan: SplitPlan; cutId: string; basis: PlanBasis }>();
  private readonly replanOptions = replanSettings();

  constructor(
    @Inject(SplitService) private readonly splits: SplitService,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(ENGINE_CONFIG) private readonly engine: EngineConfig,
  ) {}

  async run(call: SplitStepCall): Promise<SplitStepOutput> {
    const spec = call.split;
    const parsed = parseSplitModel(spec.model);
    if (typeof parsed === 'string') throw new YunbianError('BAD_REQUEST', parsed);
    const { name, version } = parsed;
    const inputs = (call.input as { inputs?: Record<string, AnyWireTensor> } | undefined)?.inputs;
    if (!inputs || typeof inputs !== 'object' || Object.keys(inputs).length === 0)
      throw new YunbianError(
        'BAD_REQUEST',
        `step ${call.stepId}: a split step's input is { inputs: { <input name>: { dims, float32 } } } (as for onnx-inference)`,
      );
    const inputShape = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.dims]));
    const dtype = spec.lossy || 'float32';
    /** A tensor as the second node gets it: float32 ones narrowed to the step's lossy dtype. */
    const toSend = (n: string, wire: AnyWireTensor): AnyWireTensor => {
      if (dtype === 'float32' || (wire.dtype ?? 'float32') === dtype) return wire;
      return packWire(fromWire(n, wire), dtype);
    };
    const first = this.endNode(spec.between[0], [name, `${name}-head`], 0);
    const second = this.endNode(spec.between[1], [name, `${name}-tail`], 1, first.id);
    const { plan, cutId: planned, replan } = await this.decide(name, version, spec, first, second, inputShape);
    const cutId = spec.cut ?? planned;
    const estimate = plan.candidates.find((c) => c.id === cutId);
    if (!estimate)
      throw new YunbianError(
        'BAD_REQUEST',
        `step ${call.stepId}: cut "${cutId}" is not one of the ${plan.candidates.length} candidates of ${spec.model} (POST /models/${name}/versions/${version}/split-plan lists them)`,
      );
    const notes = [...plan.notes];
    const request = (instance: InstanceRecord, input: unknown, part: string) =>
      call.call({ instance, input, timeoutMs: call.timeoutMs, idempotencyKey: `${call.idempotencyKey}:${part}` });
    const started = performance.now();
    let headMs = 0;
    let outputs: Record<string, WireTensor>;
    const tensors: SplitStepRecord['tensors'] = [];
    let messageBytes = 0;
    const crossed = (n: string, wire: AnyWireTensor) =>
      tensors.push({
        name: n,
        dims: wire.dims,
        bytes: 4 * count(wire.dims),
        dtype: wire.dtype ?? 'float32',
        wireBytes: wireDataBytes(wire),
      });
    let parts: SplitStepRecord['parts'];
    if (estimate.kind === 'all-first' || estimate.kind === 'all-second') {
      const node = estimate.kind === 'all-first' ? first : second;
      let sent: Record<string, AnyWireTensor> = inputs;
      if (estimate.kind === 'all-second') {
        // The input is what crosses: narrowed with lossy, as the plan counted it.
        sent = Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, toSend(n, t)]));
        for (const [n, t] of Object.entries(sent)) crossed(n, t);
        messageBytes = jsonBytes({ inputs: sent });
      }
      const instance = this.instanceOn(node, name, version);
      outputs = await this.outputsOf(call, await request(instance, { inputs: sent }, 'full'));
      if (estimate.kind === 'all-first') headMs = performance.now() - started;
    } else {
      const registered = await this.splits.split(name, version, { cut: cutId, inputShape });
      parts = {
        head: `${registered.head.name}@${registered.head.version}`,
        tail: `${registered.tail.name}@${registered.tail.version}`,
      };
      const head = this.instanceOn(first, registered.head.name, registered.head.version);
      const tail = this.instanceOn(second, registered.tail.name, registered.tail.version);
      const headOut = await this.outputsOf(call, await request(head, { inputs }, 'head'));
      headMs = performance.now() - started;
      const crossing: Record<string, AnyWireTensor> = {};
      for (const t of registered.tensors) {
        const wire = headOut[t] ?? inputs[t];
        if (!wire) throw new YunbianError('INTERNAL', `the head ${parts.head} did not return cut tensor ${t}`);
        crossing[t] = toSend(t, wire);
        crossed(t, crossing[t]);
      }
      messageBytes = jsonBytes({ inputs: crossing });
      const tailInput = await call.offload({ inputs: crossing }, `${call.idempotencyKey}.cut`);
      const tailOut = await this.outputsOf(call, await request(tail, tailInput, 'tail'));
      // Graph outputs the head makes are results too.
      outputs = {
        ...pick(
          headOut,
          Object.keys(headOut).filter((k) => !(k in crossing)),
        ),
        ...tailOut,
      };
    }
    const totalMs = performance.now() - started;
    const sent: SplitStepRecord['sent'] = {
      dtype,
      bytes: tensors.reduce((a, t) => a + t.wireBytes, 0),
      float32Bytes: tensors.reduce((a, t) => a + t.bytes, 0),
      messageBytes,
    };
    if (spec.lossy && sent.bytes > 0)
      notes.push(
        `cut tensors sent as ${spec.lossy}: ${sent.bytes} bytes instead of ${sent.float32Bytes} as float32; the tail reads them decoded to float32`,
      );
    const record: SplitStepRecord = {
      model: spec.model,
      nodes: [first.id, second.id],
      cut: cutId,
      kind: estimate.kind,
      chosen: plan.chosen.id,
      reason: spec.cut ? `cut pinned by the step; the plan chose ${plan.chosen.id}: ${plan.reason}` : plan.reason,
      replan,
      link: plan.link,
      lossy: spec.lossy ?? false,
      ...(parts ? { parts } : {}),
      tensors,
      sent,
      estimate: {
        headMs: estimate.headMs,
        transferBytes: estimate.transferBytes,
        transferMs: estimate.transferMs,
        rttMs: estimate.rttMs,
        tailMs: estimate.tailMs,
        totalMs: estimate.totalMs,
      },
      measured: { headMs: round(headMs), tailMs: round(totalMs - headMs), totalMs: round(totalMs) },
      notes,
    };
    this.logger.info('split step ran', {
      run_id: call.runId,
      step: call.stepId,
      model: spec.model,
      cut: cutId,
      sent_bytes: sent.bytes,
      estimate_ms: round(estimate.totalMs),
      measured_ms: record.measured.totalMs,
    });
    return { outputs, split: record };
  }

  /**
   * The plan for this step's ends, kept between runs and decided again only when the link's
   * measured bandwidth (or RTT) moved past the threshold, switching cuts at most once per
   * measurement interval (`shouldReplan`); a new best cut replaces the running one past the hysteresis
   * (`adoptCut`). A step that declares its link is planned once for it.
   */
  private async decide(
    name: string,
    version: number,
    spec: SplitStepCall['split'],
    first: NodeRecord,
    second: NodeRecord,
    inputShape: Record<string, number[]>,
  ): Promise<{ plan: SplitPlan; cutId: string; replan: SplitStepRecord['replan'] }> {
    const key = JSON.stringify([name, version, first.id, second.id, spec.lossy, spec.objective, spec.link, inputShape]);
    const kept = this.plans.get(key);
    const link = spec.link ?? this.splits.currentLink(first.id, second.id);
    const linkNow = { rttMs: link.rttMs, mbps: link.mbps };
    const verdict = shouldReplan(kept?.basis, link, Date.now(), this.replanOptions);
    if (kept && !verdict.replan)
      return {
        plan: kept.plan,
        cutId: kept.cutId,
        replan: {
          decided: false,
          reason: verdict.reason,
          decidedAt: new Date(kept.basis.decidedAt).toISOString(),
          linkNow,
        },
      };
    const plan = await this.splits.plan(name, version, {
      between: [first.id, second.id],
      inputShape,
      ...(spec.link ? { link: spec.link } : {}),
      ...(spec.objective ? { objective: spec.objective } : {}),
      lossy: spec.lossy ?? false,
    });
    const running = kept && plan.candidates.find((c) => c.id === kept.cutId);
    const adopted = adoptCut(running, plan.chosen, this.replanOptions);
    const decidedAt = Date.now();
    remember(this.plans, key, {
      plan,
      cutId: adopted.id,
      basis: {
        mbps: plan.link.mbps,
        rttMs: plan.link.rttMs,
        decidedAt,
        switchedAt: adopted.switched || !kept ? decidedAt : (kept.basis.switchedAt ?? kept.basis.decidedAt),
      },
    });
    return {
      plan,
      cutId: adopted.id,
      replan: {
        decided: true,
        reason: `${verdict.reason}; ${adopted.reason}`,
        decidedAt: new Date(decidedAt).toISOString(),
        linkNow,
      },
    };
  }

  /**
   * A node id as it is; a tier: its alive node with an instance serving the model or its part,
   * else its first alive node. A site engine's ends are nodes of its site (the run was routed
   * there because both are: `chooseExecutionSite`), so the cut tensors stay in the site.
   */
  private endNode(asked: string, models: string[], index: number, other?: string): NodeRecord {
    const site = this.engine.mode === 'site' ? this.engine.site : undefined;
    const nodes = this.catalog.listNodes().filter((n) => site === undefined || n.site === site);
    const byId = nodes.find((n) => n.id === asked);
    if (byId) {
      if (byId.status !== 'alive')
        throw new YunbianError('UNAVAILABLE', `split.between[${index}]: node ${asked} is ${byId.status}`);
      return byId;
    }
    if (site !== undefined && this.catalog.listNodes().some((n) => n.id === asked))
      throw new YunbianError(
        'BAD_REQUEST',
        `split.between[${index}]: node ${asked} is not at site ${site}; the site engine of ${site} runs split steps between its own nodes (start the run at the cloud for others)`,
      );
    if (!(NODE_TIERS as readonly string[]).includes(asked))
      throw new YunbianError(
        'BAD_REQUEST',
        `split.between[${index}]: "${asked}" is neither a node of the catalogue nor a tier (${NODE_TIERS.join(', ')})`,
      );
    const serving = new Set(
      this.catalog
        .listInstances({ service: SERVICE, status: 'ready' })
        .filter((i) => i.model && models.includes(i.model.name))
        .map((i) => i.nodeId),
    );
    const of = nodes
      .filter((n) => n.tier === asked && n.status === 'alive' && n.id !== other)
      .sort((a, b) => Number(serving.has(b.id)) - Number(serving.has(a.id)) || a.id.localeCompare(b.id));
    if (!of[0])
      throw new YunbianError(
        'UNAVAILABLE',
        `split.between[${index}]: no alive ${asked} node${site ? ` at site ${site}` : ''}`,
      );
    return of[0];
  }

  private instanceOn(node: NodeRecord, model: string, version: number): InstanceRecord {
    const found = this.catalog
      .listInstances({ nodeId: node.id, service: SERVICE, status: 'ready' })
      .filter((i) => i.model?.name === model && i.model.version === version)
      .sort((a, b) => a.inFlight + a.queued - (b.inFlight + b.queued))[0];
    if (!found)
      throw new YunbianError(
        'UNAVAILABLE',
        `no ready ${SERVICE} instance serves ${model}@${version} on node ${node.id}; start one: POST /instances ` +
          JSON.stringify({ service: SERVICE, nodeId: node.id, config: { model: `${model}@${version}` } }),
      );
    return found;
  }

  private async outputsOf(call: SplitStepCall, reply: unknown): Promise<Record<string, WireTensor>> {
    const value = (await call.resolve(reply)) as { outputs?: Record<string, WireTensor> } | undefined;
    if (!value?.outputs) throw new YunbianError('INTERNAL', 'an inference instance answered without outputs');
    return value.outputs;
  }
}

const count = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
const round = (ms: number) => Math.round(ms * 100) / 100;

function pick<T>(from: Record<string, T>, keys: string[]): Record<string, T> {
  return Object.fromEntries(keys.map((k) => [k, from[k]]));
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > KEPT_PLANS) map.delete(map.keys().next().value!);
}
