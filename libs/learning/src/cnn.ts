import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { seededRandom } from '@yunbian/common';
import { DIGIT_CLASSES, DIGIT_PIXELS, DIGIT_SIDE, shuffle, type Digits } from './digits';

/**
 * A small convolutional classifier of 28×28 digits: `conv` 3×3 valid convolutions (ReLU, then
 * 2×2 max-pooling) with that many filters each, `dense` hidden layers (ReLU), a 10-way softmax.
 * Written with slices, concat and matMul (im2col) because tfjs's wasm backend has no gradient
 * for its own conv2d kernel; every op used here has one.
 */
export interface CnnSpec {
  conv: number[];
  dense: number[];
}

/**
 * The three digit classifiers of the tiers: device (≈2.3 K parameters), edge (≈57 K, a quarter
 * of the cloud's), cloud (≈225 K).
 */
export const DIGIT_MODELS = {
  device: { conv: [4, 8], dense: [] },
  edge: { conv: [16, 32], dense: [64] },
  cloud: { conv: [32, 64], dense: [128] },
} as const satisfies Record<string, CnnSpec>;

export interface WeightTensor {
  shape: number[];
  values: Float32Array;
}

/** Trained weights in tfjs layout: conv kernels `[3, 3, C, F]`, dense kernels `[K, M]` (rows in (h, w, c) order). */
export interface CnnWeights {
  spec: CnnSpec;
  convs: { kernel: WeightTensor; bias: WeightTensor }[];
  dense: { kernel: WeightTensor; bias: WeightTensor }[];
}

export interface EpochReport {
  epoch: number;
  /** Mean cross-entropy over the epoch's batches. */
  loss: number;
  /** Share of the epoch's training samples classified right (as the batches went). */
  accuracy: number;
  learningRate: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize?: number;
  learningRate?: number;
  /** Extra epochs at a lower learning rate after `epochs`. */
  tail?: { epochs: number; learningRate: number };
  /** Seeds the initial weights and the order of the batches. */
  seed: number;
  onEpoch?: (report: EpochReport) => void;
  /**
   * Called (and awaited) after every epoch with everything needed to go on from there; a
   * run given it back as `resume` continues exactly as if it had never stopped.
   */
  onCheckpoint?: (checkpoint: TrainCheckpoint) => Promise<void> | void;
  /** Go on from this checkpoint (of a run with the same spec, data, options and seed). */
  resume?: TrainCheckpoint;
  /**
   * Knowledge distillation (Hinton et al.): the loss becomes `(1 − weight) · CE(labels, student)
   * + weight · T² · CE(softmax(teacher / T), softmax(student / T))`, the teacher's logits
   * computed on the same (augmented) batch. Its gradient is that of the KL divergence.
   */
  distill?: DistillOptions;
  /** Augmentation: every sample of an epoch moved by whole pixels (see `AugmentOptions`). */
  augment?: AugmentOptions;
}

export interface DistillOptions {
  teacher: CnnWeights;
  /** Softmax temperature T (> 0; 1 = the teacher's own probabilities). */
  temperature: number;
  /** Share of the loss from the teacher, in [0, 1]. */
  weight: number;
}

export interface AugmentOptions {
  /**
   * Each sample is shifted by (dx, dy), each drawn uniformly from the whole numbers in
   * [−shiftPx, shiftPx], the vacated pixels blank. Draws are a pure function of the run's
   * seed and the epoch (`augmentShifts`), so a resumed run sees the same images.
   */
  shiftPx: number;
}

/**
 * The state of a training run after `epoch` epochs: the weights, the Adam optimizer's step
 * count and moments (of the phase it was in), and the position of the seeded generator that
 * orders the batches — `epoch` shuffles of the sample order from `seed`, replayed on resume
 * (the generator is a pure function of its draws, so replaying is exact and cheap).
 */
export interface TrainCheckpoint {
  epoch: number;
  seed: number;
  /** Samples trained on (a resume on other data is refused). */
  samples: number;
  weights: CnnWeights;
  optimizer: {
    /** Index of the phase (0 = the main epochs, 1 = the tail) whose optimizer this is. */
    phase: number;
    iterations: number;
    /** Adam's first moments then second moments, one per trainable tensor in layer order. */
    moments: WeightTensor[];
  };
  /** Shuffles drawn from the generator so far (one per epoch). */
  shuffles: number;
  /** The caller's notes kept with the checkpoint (a training service's epoch figures); trainCnn ignores them. */
  notes?: Record<string, unknown>;
}

let backend: Promise<void> | undefined;

/** tfjs on its wasm backend, one thread (the .wasm files ship in the npm package). */
export function ensureBackend(): Promise<void> {
  backend ??= (async () => {
    setThreadsCount(1);
    await tf.setBackend('wasm');
    await tf.ready();
  })();
  return backend;
}

/** Height/width and channels after the convolution stack, and the parameter count. */
export function cnnShape(spec: CnnSpec): { side: number; channels: number; features: number; parameters: number } {
  let side = DIGIT_SIDE;
  let channels = 1;
  let parameters = 0;
  for (const filters of spec.conv) {
    parameters += 9 * channels * filters + filters;
    side = Math.floor((side - 2) / 2);
    channels = filters;
  }
  let width = side * side * channels;
  const features = width;
  for (const units of [...spec.dense, DIGIT_CLASSES]) {
    parameters += width * units + units;
    width = units;
  }
  return { side, channels, features, parameters };
}

interface Variables {
  convs: { kernel: tf.Variable; bias: tf.Variable }[];
  dense: { kernel: tf.Variable; bias: tf.Variable }[];
}

function variables(spec: CnnSpec, seed: number, initial?: CnnWeights): Variables {
  let s = seed;
  const glorot = (shape: number[], fanIn: number, fanOut: number) =>
    tf.variable(
      tf.randomUniform(shape, -Math.sqrt(6 / (fanIn + fanOut)), Math.sqrt(6 / (fanIn + fanOut)), 'float32', s++),
    );
  const from = (w: WeightTensor) => tf.variable(tf.tensor(w.values, w.shape, 'float32'));
  const convs: Variables['convs'] = [];
  let channels = 1;
  spec.conv.forEach((filters, i) => {
    const given = initial?.convs[i];
    convs.push({
      kernel: given ? from(given.kernel) : glorot([3, 3, channels, filters], 9 * channels, 9 * filters),
      bias: given ? from(given.bias) : tf.variable(tf.zeros([filters])),
    });
    channels = filters;
  });
  const dense: Variables['dense'] = [];
  let width = cnnShape(spec).features;
  [...spec.dense, DIGIT_CLASSES].forEach((units, i) => {
    const given = initial?.dense[i];
    dense.push({
      kernel: given ? from(given.kernel) : glorot([width, units], width, units),
      bias: given ? from(given.bias) : tf.variable(tf.zeros([units])),
    });
    width = units;
  });
  return { convs, dense };
}

function conv3x3(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const filters = kernel.shape[3]!;
  const oh = h - 2;
  const ow = w - 2;
  const patches: tf.Tensor4D[] = [];
  // Column order (dy, dx, c) is the row order of the kernel reshaped from [3, 3, C, F].
  for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) patches.push(x.slice([0, dy, dx, 0], [n, oh, ow, c]));
  const columns = tf.concat(patches, 3).reshape([n * oh * ow, 9 * c]);
  return columns
    .matMul(kernel.reshape([9 * c, filters]))
    .add(bias)
    .reshape([n, oh, ow, filters]);
}

function maxPool2(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const h2 = Math.floor(h / 2);
  const w2 = Math.floor(w / 2);
  // Odd sides drop their last row/column, as ONNX MaxPool does (floor mode).
  const even = h % 2 || w % 2 ? x.slice([0, 0, 0, 0], [n, 2 * h2, 2 * w2, c]) : x;
  return even.reshape([n, h2, 2, w2, 2, c]).max([2, 4]) as tf.Tensor4D;
}

function logits(v: Variables, images: tf.Tensor2D): tf.Tensor2D {
  let x = images.reshape([images.shape[0], DIGIT_SIDE, DIGIT_SIDE, 1]) as tf.Tensor4D;
  for (const { kernel, bias } of v.convs) x = maxPool2(conv3x3(x, kernel, bias).relu());
  let y = x.reshape([x.shape[0], x.shape[1] * x.shape[2] * x.shape[3]]) as tf.Tensor2D;
  v.dense.forEach(({ kernel, bias }, i) => {
    y = y.matMul(kernel).add(bias) as tf.Tensor2D;
    if (i < v.dense.length - 1) y = y.relu();
  });
  return y;
}

function snapshot(spec: CnnSpec, v: Variables): CnnWeights {
  const read = (t: tf.Variable): WeightTensor => ({ shape: [...t.shape], values: t.dataSync() as Float32Array });
  return {
    spec: { conv: [...spec.conv], dense: [...spec.dense] },
    convs: v.convs.map((l) => ({ kernel: read(l.kernel), bias: read(l.bias) })),
    dense: v.dense.map((l) => ({ kernel: read(l.kernel), bias: read(l.bias) })),
  };
}

function dispose(v: Variables): void {
  for (const l of [...v.convs, ...v.dense]) {
    l.kernel.dispose();
    l.bias.dispose();
  }
}

/**
 * Trains a classifier on `data` with Adam and softmax cross-entropy, from `initial` weights
 * when given (fine-tuning) or from a seeded Glorot initialisation. Deterministic for a seed.
 */
export async function trainCnn(
  spec: CnnSpec,
  data: Digits,
  options: TrainOptions,
  initial?: CnnWeights,
): Promise<CnnWeights> {
  await ensureBackend();
  const batchSize = options.batchSize ?? 64;
  const random = seededRandom(options.seed);
  const resume = options.resume;
  if (resume) checkResume(resume, options, data);
  checkRecipe(options);
  const v = variables(spec, options.seed, resume?.weights ?? initial);
  const teacher = options.distill ? variables(options.distill.teacher.spec, 0, options.distill.teacher) : undefined;
  const trainable = [...v.convs, ...v.dense].flatMap((l) => [l.kernel, l.bias]);
  const phases = [{ epochs: options.epochs, learningRate: options.learningRate ?? 1e-3 }];
  if (options.tail) phases.push(options.tail);
  const order = Array.from({ length: data.count }, (_, i) => i);
  // The generator's position: the shuffles the interrupted run had drawn, replayed.
  for (let k = 0; k < (resume?.shuffles ?? 0); k++) shuffle(order, random);
  let epoch = resume?.epoch ?? 0;
  let phaseStart = 0;
  try {
    for (const [phaseIndex, phase] of phases.entries()) {
      const done = Math.min(phase.epochs, Math.max(0, epoch - phaseStart));
      phaseStart += phase.epochs;
      if (done === phase.epochs) continue;
      const optimizer = tf.train.adam(phase.learningRate);
      if (resume && done > 0 && resume.optimizer.phase === phaseIndex) await restoreOptimizer(optimizer, resume);
      for (let e = done; e < phase.epochs; e++) {
        shuffle(order, random);
        const shifts = options.augment
          ? augmentShifts(options.seed, epoch, data.count, options.augment.shiftPx)
          : undefined;
        let lossSum = 0;
        let right = 0;
        let batches = 0;
        for (let start = 0; start < data.count; start += batchSize) {
          const ids = order.slice(start, start + batchSize);
          const { images, labels } = batch(data, ids, shifts);
          const x = tf.tensor2d(images, [ids.length, DIGIT_PIXELS]);
          const y = tf.oneHot(tf.tensor1d(labels, 'int32'), DIGIT_CLASSES);
          const distill = options.distill;
          // The teacher's softened probabilities: constants of the step (no gradient flows there).
          const soft =
            distill && teacher ? tf.tidy(() => tf.softmax(logits(teacher, x).div(distill.temperature))) : undefined;
          let predicted: tf.Tensor | undefined;
          const loss = optimizer.minimize(
            () => {
              const out = logits(v, x);
              predicted = tf.keep(out.argMax(1));
              const hard = tf.losses.softmaxCrossEntropy(y, out) as tf.Scalar;
              if (!distill || !soft) return hard;
              const t = distill.temperature;
              const kd = tf.losses.softmaxCrossEntropy(soft, out.div(t)).mul(t * t);
              return hard.mul(1 - distill.weight).add(kd.mul(distill.weight)) as tf.Scalar;
            },
            true,
            trainable,
          );
          soft?.dispose();
          lossSum += (await loss!.data())[0];
          const p = await predicted!.data();
          for (let i = 0; i < ids.length; i++) if (p[i] === labels[i]) right++;
          batches++;
          tf.dispose([x, y, loss!, predicted!]);
          // tfjs's data() resolves as a microtask: without a macrotask turn here a whole epoch
          // would hold the event loop (timers, NATS pings, IPC) until it ends.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        epoch++;
        options.onEpoch?.({
          epoch,
          loss: lossSum / batches,
          accuracy: right / data.count,
          learningRate: phase.learningRate,
        });
        if (options.onCheckpoint) {
          await options.onCheckpoint({
            epoch,
            seed: options.seed,
            samples: data.count,
            weights: snapshot(spec, v),
            optimizer: { phase: phaseIndex, ...(await optimizerState(optimizer)) },
            shuffles: epoch,
          });
        }
      }
      optimizer.dispose();
    }
    return snapshot(spec, v);
  } finally {
    dispose(v);
    if (teacher) dispose(teacher);
  }
}

/** Refuses distillation and augmentation settings outside what they accept. */
function checkRecipe(options: TrainOptions): void {
  const problems: string[] = [];
  const d = options.distill;
  if (d) {
    if (!(d.temperature > 0)) problems.push(`distill.temperature must be > 0 (got ${d.temperature})`);
    if (!(d.weight >= 0 && d.weight <= 1)) problems.push(`distill.weight must be in [0, 1] (got ${d.weight})`);
  }
  const a = options.augment;
  if (a && !(Number.isInteger(a.shiftPx) && a.shiftPx >= 0 && a.shiftPx <= 8))
    problems.push(`augment.shiftPx must be a whole number of pixels in [0, 8] (got ${a.shiftPx})`);
  if (problems.length) throw new RangeError(`cannot train with these options: ${problems.join('; ')}`);
}

/**
 * The shifts of epoch `epoch` (0-based) of a run seeded `seed`: `count` pairs (dx, dy), each a
 * whole number in [−shiftPx, shiftPx], sample `i`'s at `2i`, `2i + 1`. A generator of its own
 * per epoch (not the one ordering the batches), so checkpoints need no extra state.
 */
export function augmentShifts(seed: number, epoch: number, count: number, shiftPx: number): Int8Array {
  const random = seededRandom((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
  const out = new Int8Array(2 * count);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(random() * (2 * shiftPx + 1)) - shiftPx;
  return out;
}

function checkResume(resume: TrainCheckpoint, options: TrainOptions, data: Digits): void {
  const total = options.epochs + (options.tail?.epochs ?? 0);
  const problems: string[] = [];
  if (resume.seed !== options.seed) problems.push(`its seed is ${resume.seed}, this run's ${options.seed}`);
  if (resume.samples !== data.count)
    problems.push(`it trained on ${resume.samples} samples, this run has ${data.count}`);
  if (!Number.isInteger(resume.epoch) || resume.epoch < 0 || resume.epoch > total)
    problems.push(`it is after epoch ${resume.epoch} of a run of ${total}`);
  if (problems.length) throw new RangeError(`cannot resume from this checkpoint: ${problems.join('; ')}`);
}

async function optimizerState(optimizer: tf.AdamOptimizer): Promise<Omit<TrainCheckpoint['optimizer'], 'phase'>> {
  const [iterations, ...moments] = await optimizer.getWeights();
  return {
    iterations: (await iterations.tensor.data())[0],
    moments: await Promise.all(
      moments.map(async (m) => ({ shape: [...m.tensor.shape], values: (await m.tensor.data()) as Float32Array })),
    ),
  };
}

/** Adam's state back (its moments are matched to variables by position, as tfjs applies them). */
async function restoreOptimizer(optimizer: tf.AdamOptimizer, checkpoint: TrainCheckpoint): Promise<void> {
  const tensors = [
    { name: 'iter', tensor: tf.scalar(checkpoint.optimizer.iterations, 'int32') },
    ...checkpoint.optimizer.moments.map((m, i) => ({
      name: `moment${i}`,
      tensor: tf.tensor(m.values, m.shape, 'float32'),
    })),
  ];
  await optimizer.setWeights(tensors);
  tf.dispose(tensors.map((t) => t.tensor));
}

/** Class probabilities of every image (`count × 10`), computed by tfjs from the weights. */
export async function predictCnn(weights: CnnWeights, data: Digits, batchSize = 256): Promise<Float32Array> {
  await ensureBackend();
  const v = variables(weights.spec, 0, weights);
  const out = new Float32Array(data.count * DIGIT_CLASSES);
  try {
    for (let start = 0; start < data.count; start += batchSize) {
      const n = Math.min(batchSize, data.count - start);
      const probabilities = tf.tidy(() =>
        tf.softmax(
          logits(
            v,
            tf.tensor2d(data.images.subarray(start * DIGIT_PIXELS, (start + n) * DIGIT_PIXELS), [n, DIGIT_PIXELS]),
          ),
        ),
      );
      out.set(await probabilities.data(), start * DIGIT_CLASSES);
      probabilities.dispose();
    }
    return out;
  } finally {
    dispose(v);
  }
}

function batch(data: Digits, ids: number[], shifts?: Int8Array): { images: Float32Array; labels: Int32Array } {
  const images = new Float32Array(ids.length * DIGIT_PIXELS);
  const labels = new Int32Array(ids.length);
  ids.forEach((id, i) => {
    const image = data.images.subarray(id * DIGIT_PIXELS, (id + 1) * DIGIT_PIXELS);
    const into = images.subarray(i * DIGIT_PIXELS, (i + 1) * DIGIT_PIXELS);
    if (shifts) shiftDigit(image, shifts[2 * id], shifts[2 * id + 1], into);
    else into.set(image);
    labels[i] = data.labels[id];
  });
  return { images, labels };
}

/**
 * `image` (one 28×28 digit) moved `dx` pixels right and `dy` down (negative: left, up) into
 * `out`, the pixels moved in from outside blank (0).
 */
export function shiftDigit(
  image: ArrayLike<number>,
  dx: number,
  dy: number,
  out = new Float32Array(DIGIT_PIXELS),
): Float32Array {
  out.fill(0);
  for (let y = Math.max(0, dy); y < Math.min(DIGIT_SIDE, DIGIT_SIDE + dy); y++)
    for (let x = Math.max(0, dx); x < Math.min(DIGIT_SIDE, DIGIT_SIDE + dx); x++)
      out[y * DIGIT_SIDE + x] = image[(y - dy) * DIGIT_SIDE + (x - dx)];
  return out;
}

/** Share of `data` whose most probable class (in `probabilities`, `count × 10`) is its label. */
export function accuracyOf(probabilities: Float32Array, data: Digits): number {
  let right = 0;
  for (let i = 0; i < data.count; i++) {
    let best = 0;
    for (let k = 1; k < DIGIT_CLASSES; k++)
      if (probabilities[i * DIGIT_CLASSES + k] > probabilities[i * DIGIT_CLASSES + best]) best = k;
    if (best === data.labels[i]) right++;
  }
  return right / data.count;
}
