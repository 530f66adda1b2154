import { DIGIT_PIXELS, DIGIT_SIDE, DIGITS_SPLIT, type Digits } from './digits';

/**
 * What a site's camera does to a 28×28 digit, applied in this order: stroke width (dilation
 * by `stroke` 3×3 max filters, erosion for negative values), rotation about the centre
 * (degrees, counter-clockwise, bilinear), Gaussian blur (`blurSigma` pixels), then contrast
 * (`v ↦ clamp(offset + gain·v, 0, 1)`: a lower gain and a grey background are a faded,
 * over-exposed picture). Every step is deterministic: one shift, one result.
 */
export interface SiteShift {
  stroke?: number;
  rotateDeg?: number;
  blurSigma?: number;
  gain?: number;
  offset?: number;
}

/**
 * Named shifts, each measured to cost the stage-1 cloud model (committed `digits-cloud`,
 * 97.60 % on the held-out digits) at least 8 points on the shifted held-out digits; the
 * figures are in docs/learning.md (`npm run bench:loop` prints them again).
 */
export const SITE_SHIFTS = {
  /** A camera mounted at an angle, slightly out of focus. */
  'tilted-soft': { rotateDeg: 25, blurSigma: 0.8 },
  /** A thick marker on a faded, over-exposed picture. */
  'thick-faded': { stroke: 1, gain: 0.6, offset: 0.25 },
  /** A thin pen, tilted the other way. */
  'thin-tilted': { stroke: -1, rotateDeg: -15 },
} as const satisfies Record<string, SiteShift>;

export type SiteShiftName = keyof typeof SITE_SHIFTS;

const SHIFT_LIMITS: Record<keyof SiteShift, [number, number]> = {
  stroke: [-2, 2],
  rotateDeg: [-180, 180],
  blurSigma: [0, 3],
  gain: [0, 2],
  offset: [-1, 1],
};

/** Problems with a shift given by name or as parameters (empty when it is usable). */
export function shiftIssues(shift: unknown): string[] {
  if (typeof shift === 'string') {
    return shift in SITE_SHIFTS
      ? []
      : [`unknown shift "${shift}"; named shifts: ${Object.keys(SITE_SHIFTS).join(', ')} (or give its parameters)`];
  }
  if (typeof shift !== 'object' || shift === null || Array.isArray(shift))
    return ['a shift is a name or an object of stroke, rotateDeg, blurSigma, gain, offset'];
  const issues: string[] = [];
  for (const [key, value] of Object.entries(shift)) {
    const limits = SHIFT_LIMITS[key as keyof SiteShift];
    if (!limits) {
      issues.push(`unknown shift parameter "${key}"; accepted: ${Object.keys(SHIFT_LIMITS).join(', ')}`);
    } else if (typeof value !== 'number' || !Number.isFinite(value) || value < limits[0] || value > limits[1]) {
      issues.push(`shift ${key} must be a number in [${limits[0]}, ${limits[1]}] (got ${JSON.stringify(value)})`);
    } else if (key === 'stroke' && !Number.isInteger(value)) {
      issues.push(`shift stroke must be a whole number of 3×3 dilations (or erosions when negative), got ${value}`);
    }
  }
  return issues;
}

/** The parameters of a named or given shift; throws with the accepted forms when it is not one. */
export function resolveShift(shift: SiteShiftName | SiteShift | string): SiteShift {
  const issues = shiftIssues(shift);
  if (issues.length) throw new RangeError(issues.join('; '));
  return typeof shift === 'string' ? { ...SITE_SHIFTS[shift as SiteShiftName] } : { ...shift };
}

/**
 * The shift of a site that names none in its configuration: one of the named shifts, chosen
 * by a hash of the site's name (FNV-1a), so every process agrees on it without being told.
 */
export function shiftFor(site: string): { name: SiteShiftName; shift: SiteShift } {
  let h = 0x811c9dc5;
  for (let i = 0; i < site.length; i++) h = Math.imul(h ^ site.charCodeAt(i), 0x01000193) >>> 0;
  const names = Object.keys(SITE_SHIFTS) as SiteShiftName[];
  const name = names[h % names.length];
  return { name, shift: { ...SITE_SHIFTS[name] } };
}

/** The contiguous share `[from, to)` of the edge pool (digits 6,000–7,999) site `index` of `count` holds. */
export function edgeShare(index: number, count: number): { from: number; to: number } {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count)
    throw new RangeError(`site index must be a whole number in [0, ${count - 1}] of ${count} sites (got ${index})`);
  const { from, to } = DIGITS_SPLIT.edge;
  const size = to - from;
  return { from: from + Math.floor((index * size) / count), to: from + Math.floor(((index + 1) * size) / count) };
}

/** Every image of `data` with `shift` applied (a copy; labels are shared). */
export function shiftDigits(data: Digits, shift: SiteShift): Digits {
  const images = new Float32Array(data.count * DIGIT_PIXELS);
  for (let i = 0; i < data.count; i++)
    images.set(shiftImage(data.images.subarray(i * DIGIT_PIXELS, (i + 1) * DIGIT_PIXELS), shift), i * DIGIT_PIXELS);
  return { count: data.count, images, labels: data.labels };
}

/** One 28×28 image (values in [0, 1], 1 = ink) with `shift` applied; a new array. */
export function shiftImage(image: Float32Array, shift: SiteShift): Float32Array {
  let out: Float32Array = Float32Array.from(image);
  const stroke = shift.stroke ?? 0;
  for (let k = 0; k < Math.abs(stroke); k++) out = morph(out, stroke > 0 ? Math.max : Math.min);
  if (shift.rotateDeg) out = rotate(out, shift.rotateDeg);
  if (shift.blurSigma) out = blur(out, shift.blurSigma);
  if (shift.gain !== undefined || shift.offset !== undefined) {
    const gain = shift.gain ?? 1;
    const offset = shift.offset ?? 0;
    for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, offset + gain * out[i]));
  }
  return out;
}

const S = DIGIT_SIDE;
const at = (img: Float32Array, y: number, x: number) => (y < 0 || y >= S || x < 0 || x >= S ? 0 : img[y * S + x]);

/** 3×3 max (dilation) or min (erosion) filter; outside the image is background (0). */
function morph(img: Float32Array, pick: (...v: number[]) => number): Float32Array {
  const out = new Float32Array(DIGIT_PIXELS);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const around: number[] = [];
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) around.push(at(img, y + dy, x + dx));
      out[y * S + x] = pick(...around);
    }
  return out;
}

/** Rotation about the image centre by inverse mapping with bilinear interpolation. */
function rotate(img: Float32Array, degrees: number): Float32Array {
  const out = new Float32Array(DIGIT_PIXELS);
  const r = (degrees * Math.PI) / 180;
  const cos = Math.cos(r);
  const sin = Math.sin(r);
  const c = (S - 1) / 2;
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      // The source of (x, y): rotate back by -degrees (y grows downwards, so the signs of sin flip).
      const sx = cos * (x - c) - sin * (y - c) + c;
      const sy = sin * (x - c) + cos * (y - c) + c;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      out[y * S + x] =
        (1 - fy) * ((1 - fx) * at(img, y0, x0) + fx * at(img, y0, x0 + 1)) +
        fy * ((1 - fx) * at(img, y0 + 1, x0) + fx * at(img, y0 + 1, x0 + 1));
    }
  return out;
}

/** Separable Gaussian blur, kernel radius ⌈3σ⌉, normalised; outside the image is background. */
function blur(img: Float32Array, sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel: number[] = [];
  for (let i = -radius; i <= radius; i++) kernel.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const sum = kernel.reduce((a, b) => a + b, 0);
  const k = kernel.map((v) => v / sum);
  const pass = (src: Float32Array, horizontal: boolean) => {
    const out = new Float32Array(DIGIT_PIXELS);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        let v = 0;
        for (let i = -radius; i <= radius; i++)
          v += k[i + radius] * (horizontal ? at(src, y, x + i) : at(src, y + i, x));
        out[y * S + x] = v;
      }
    return out;
  };
  return pass(pass(img, true), false);
}
