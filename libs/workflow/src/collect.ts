import { CLOUD_SAMPLE_SCOPE, sampleSubject, type CollectedSample, type DatasetPrivacy } from '@yunbian/contracts';
import type { CollectDefinition } from './definition';
import { argmax, sliceRows, type TierProgress, type TierTensor } from './tiers';

/**
 * Hard examples by tier, the pure parts: where a collection's samples may be kept given their
 * privacy tier and the engine collecting them, and which samples of a tiered task are hard
 * examples, with what each tier said of them (docs/learning.md, "Hard examples by tier").
 */

const RANK: Record<DatasetPrivacy, number> = { public: 0, 'edge-private': 1, 'user-private': 2 };

/** The more private of two tiers. */
export function morePrivate(a: DatasetPrivacy, b: DatasetPrivacy | undefined): DatasetPrivacy {
  return b !== undefined && RANK[b] > RANK[a] ? b : a;
}

/** The engine collecting: the cloud's, or a site engine with its site's domain and the hub's. */
export interface CollectingEngine {
  mode: 'cloud' | 'site';
  site: string;
  /** The site's JetStream domain (site engines). */
  runDomain?: string;
  /** The hub's JetStream domain as a site engine names it (default hub). */
  hubDomain?: string;
}

/** Where a collection's samples go: a JetStream domain (undefined: the engine's own, the hub's in the cloud) and subject… */
export type CollectRoute =
  | { keep: true; privacy: DatasetPrivacy; scope: string; domain?: string; subject: string }
  /** …or nowhere, and why (the samples are counted, not kept). */
  | { keep: false; privacy: DatasetPrivacy; reason: string };

/**
 * The routing decision. `public` samples go to the cloud's collection (the hub's `yb-samples`,
 * from any engine); `edge-private` ones to the collection of the site they are at, in that
 * site's domain, written only by that site's engine — the cloud engine keeps none (the hub
 * must never hold them); `user-private` ones are never kept.
 */
export function collectRoute(dataset: string, privacy: DatasetPrivacy, engine: CollectingEngine): CollectRoute {
  if (privacy === 'user-private')
    return { keep: false, privacy, reason: 'user-private samples are never kept (counted only)' };
  if (privacy === 'public') {
    const domain = engine.mode === 'site' ? (engine.hubDomain ?? 'hub') : undefined;
    return {
      keep: true,
      privacy,
      scope: CLOUD_SAMPLE_SCOPE,
      ...(domain ? { domain } : {}),
      subject: sampleSubject(CLOUD_SAMPLE_SCOPE, dataset),
    };
  }
  if (engine.mode !== 'site' || !engine.runDomain)
    return {
      keep: false,
      privacy,
      reason: `edge-private samples are kept only in their site's domain, by its site engine; this run executes on the cloud engine (${engine.site}), so they are counted, not kept`,
    };
  return {
    keep: true,
    privacy,
    scope: engine.site,
    domain: engine.runDomain,
    subject: sampleSubject(engine.site, dataset),
  };
}

/** The privacy tier of a step's samples: `collect.privacy` when more private than the step's data tier. */
export function collectPrivacy(collect: CollectDefinition, stepTier: DatasetPrivacy | undefined): DatasetPrivacy {
  return morePrivate(stepTier ?? 'public', collect.privacy);
}

const decision = (progress: TierProgress) => progress.outputs[progress.decision];

function tensorRow(t: TierTensor, row: number): Float32Array {
  const width = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const bytes = Buffer.from(t.float32, 'base64');
  const out = new Float32Array(width);
  new Uint8Array(out.buffer).set(bytes.subarray(row * width * 4, (row + 1) * width * 4));
  return out;
}

/** The true labels a step input carries (`labels`: one per sample, an integer or null), else undefined. */
export function inputLabels(input: unknown): (number | null)[] | undefined {
  const labels = (input as { labels?: unknown } | null)?.labels;
  return Array.isArray(labels) ? labels.map((l) => (Number.isInteger(l) ? (l as number) : null)) : undefined;
}

/**
 * The hard examples of one finished tiered task: every sample some tier sent on, with the
 * sending tier's prediction, the answering tier's class as a pseudo-label (none when it was
 * answered by fallback), the true label when the input has one, and the sample's row of the
 * input tensor (the first, or `inputName`).
 */
export function hardExamples(
  input: unknown,
  progress: TierProgress,
  where: { dataset: string; privacy: DatasetPrivacy; run: string; step: string; item: number | null; at: string },
  inputName?: string,
): CollectedSample[] {
  const inputs = (input as { inputs?: Record<string, TierTensor> } | null)?.inputs ?? {};
  const name = inputName ?? Object.keys(inputs)[0];
  const tensor = inputs[name];
  if (!tensor) return [];
  const labels = inputLabels(input);
  const final = decision(progress);
  const out: CollectedSample[] = [];
  progress.answers.forEach((answer, row) => {
    if (!answer?.sentBy || !answer.why) return;
    const pseudo = answer.fallback || !final || final.dims.length !== 2 ? undefined : argmax(tensorRow(final, row));
    const label = labels?.[row];
    out.push({
      dataset: where.dataset,
      privacy: where.privacy,
      run: where.run,
      step: where.step,
      item: where.item,
      row,
      sentBy: {
        ...answer.sentBy,
        score: answer.why.score,
        threshold: answer.why.threshold,
        rule: answer.why.rule,
      },
      answeredBy: {
        tier: answer.tier,
        ...(answer.model ? { model: answer.model } : {}),
        ...(pseudo !== undefined ? { pseudoLabel: pseudo } : {}),
      },
      ...(label !== undefined && label !== null ? { label } : {}),
      input: { name, ...sliceRows(name, tensor, [row]) },
      collectedAt: where.at,
    });
  });
  return out;
}

/** One sample of a collection as a samples trigger sees it (from the message's headers: no sample bytes). */
export interface SampleArrival {
  seq: number;
  /** Epoch ms it was stored. */
  at: number;
  label?: number;
  /** The step's final answer (the pseudo-label). */
  answer?: number;
}

/** What a samples trigger makes of what arrived since its last fire. */
export interface SamplesDue {
  fire: boolean;
  /** Why it fires (`count` or `accuracy`). */
  reason?: 'count' | 'accuracy';
  /** Samples in the window since the last fire. */
  samples: number;
  labelled: number;
  /** Share of the labelled ones the step answered right. */
  accuracy?: number;
  /** The sequence range counted. */
  fromSeq?: number;
  toSeq?: number;
}

/**
 * Whether a samples trigger fires: over the arrivals after `afterSeq` (the last fire's last
 * sample) and within `windowSeconds` of `now`, `count` samples (default 100), or — with
 * `accuracyBelow` — at least `minLabelled` (default 20) labelled ones answered right less often.
 */
export function samplesDue(
  arrivals: readonly SampleArrival[],
  spec: { count?: number; windowSeconds?: number; accuracyBelow?: number; minLabelled?: number },
  now: number,
  afterSeq = 0,
): SamplesDue {
  const since = spec.windowSeconds === undefined ? -Infinity : now - spec.windowSeconds * 1000;
  const counted = arrivals.filter((a) => a.seq > afterSeq && a.at >= since);
  const labelled = counted.filter((a) => a.label !== undefined && a.answer !== undefined);
  const right = labelled.filter((a) => a.label === a.answer).length;
  const accuracy = labelled.length ? right / labelled.length : undefined;
  const base: SamplesDue = {
    fire: false,
    samples: counted.length,
    labelled: labelled.length,
    ...(accuracy !== undefined ? { accuracy } : {}),
    ...(counted.length ? { fromSeq: counted[0].seq, toSeq: counted[counted.length - 1].seq } : {}),
  };
  if (counted.length >= (spec.count ?? 100)) return { ...base, fire: true, reason: 'count' };
  if (
    spec.accuracyBelow !== undefined &&
    accuracy !== undefined &&
    labelled.length >= (spec.minLabelled ?? 20) &&
    accuracy < spec.accuracyBelow
  )
    return { ...base, fire: true, reason: 'accuracy' };
  return base;
}
