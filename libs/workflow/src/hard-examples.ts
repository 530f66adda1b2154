/**
 * Hard-example rules of tiered inference: whether one sample's answer is unsure enough to
 * send it on to the next tier. Pure functions over one sample's row of the answering tier's
 * output — class probabilities `[K]`, or detections `[boxes, 6]` laid out
 * `[x1, y1, x2, y2, score, label]` per box.
 *
 * `threshold`, `crossEntropy` and `ibt` are KubeEdge Sedna's hard-example filters
 * (`sedna.algorithms.hard_example_mining`) with Sedna's defaults (0.5 each); `margin` is ours.
 *
 * | rule           | on            | score                                  | hard when            | default               |
 * | -------------- | ------------- | -------------------------------------- | -------------------- | --------------------- |
 * | `threshold`    | probabilities | max p                                  | score < t            | t = 0.5               |
 * | `threshold`    | detections    | mean box score                         | score < t            | t = 0.5               |
 * | `crossEntropy` | probabilities | 1 + Σ p ln p / ln K (1 sure, 0 uniform) | score < t            | t = 0.5               |
 * | `margin`       | probabilities | top-1 p − top-2 p                      | score < t            | t = 0.5               |
 * | `ibt`          | detections    | share of boxes with score ≤ box        | score ≥ 1 − t        | t = 0.5, box = 0.5    |
 *
 * As in Sedna, an image with no boxes is not hard (`threshold`, `ibt`); 0 · ln 0 counts as 0.
 */
export const HARD_RULES = ['threshold', 'crossEntropy', 'margin', 'ibt'] as const;
export type HardRule = (typeof HARD_RULES)[number];

/** A tier's hard-example rule as a definition writes it (`tiers[i].hard`). */
export interface HardExampleRule {
  /** Default `threshold`. */
  rule?: HardRule;
  /** The rule's threshold (`ibt`: the image threshold t_img); default 0.5. */
  threshold?: number;
  /** `ibt` only: the box score threshold t_box; default 0.5. */
  box?: number;
}

export const DEFAULT_HARD_RULE: HardRule = 'threshold';
/** Sedna's defaults (`Threshold(0.5)`, `CrossEntropy(0.5)`, `IBT(0.5, 0.5)`), and 0.5 for `margin`. */
export const HARD_RULE_DEFAULTS: Record<HardRule, { threshold: number; box?: number }> = {
  threshold: { threshold: 0.5 },
  crossEntropy: { threshold: 0.5 },
  margin: { threshold: 0.5 },
  ibt: { threshold: 0.5, box: 0.5 },
};

/** What a rule found for one sample: its score, the threshold it was held against, and the verdict. */
export interface HardVerdict {
  rule: HardRule;
  score: number;
  /** What the score was compared with (`ibt`: 1 − t_img, hard at or above it). */
  threshold: number;
  hard: boolean;
}

/** One sample's row: class probabilities (`kind: 'probabilities'`) or boxes of `width` values each. */
export type SampleRow =
  | { kind: 'probabilities'; values: ArrayLike<number> }
  | { kind: 'detections'; values: ArrayLike<number>; width: number };

/** The rules that read each kind of output. */
export const RULES_FOR: Record<SampleRow['kind'], readonly HardRule[]> = {
  probabilities: ['threshold', 'crossEntropy', 'margin'],
  detections: ['threshold', 'ibt'],
};

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Judges one sample. Throws (with a sentence saying what is accepted) when the rule does not
 * read this kind of output, e.g. `ibt` on class probabilities.
 */
export function judgeSample(spec: HardExampleRule | undefined, row: SampleRow): HardVerdict {
  const rule = spec?.rule ?? DEFAULT_HARD_RULE;
  if (!RULES_FOR[row.kind].includes(rule)) {
    throw new Error(
      `hard-example rule ${rule} does not read ${row.kind}; for ${row.kind} use ${RULES_FOR[row.kind].join(' or ')}`,
    );
  }
  const t = spec?.threshold ?? HARD_RULE_DEFAULTS[rule].threshold;
  if (row.kind === 'detections') {
    const { values, width } = row;
    const boxes = Math.floor(values.length / width);
    if (rule === 'ibt') {
      const box = spec?.box ?? HARD_RULE_DEFAULTS.ibt.box!;
      let unsure = 0;
      for (let b = 0; b < boxes; b++) if (values[b * width + 4] <= box) unsure++;
      const score = boxes === 0 ? 0 : unsure / boxes;
      return { rule, score: round(score), threshold: round(1 - t), hard: boxes > 0 && score >= 1 - t };
    }
    let sum = 0;
    for (let b = 0; b < boxes; b++) sum += values[b * width + 4];
    const score = boxes === 0 ? 0 : sum / boxes;
    return { rule, score: round(score), threshold: t, hard: boxes > 0 && score < t };
  }
  const p = row.values;
  let score: number;
  if (rule === 'threshold') {
    score = -Infinity;
    for (let i = 0; i < p.length; i++) if (p[i] > score) score = p[i];
  } else if (rule === 'margin') {
    let first = -Infinity;
    let second = -Infinity;
    for (let i = 0; i < p.length; i++) {
      if (p[i] > first) {
        second = first;
        first = p[i];
      } else if (p[i] > second) second = p[i];
    }
    score = p.length < 2 ? first : first - second;
  } else {
    if (p.length < 2) throw new Error(`hard-example rule crossEntropy needs at least 2 classes (got ${p.length})`);
    let sum = 0;
    for (let i = 0; i < p.length; i++) if (p[i] > 0) sum += p[i] * Math.log(p[i]);
    score = 1 + sum / Math.log(p.length);
  }
  return { rule, score: round(score), threshold: t, hard: score < t };
}
