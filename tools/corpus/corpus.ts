/**
 * A deterministic corpus of PNG images with known text, drawn with jimp's bundled bitmap
 * fonts (Open Sans, 10 to 64 px, black on light backgrounds and white on dark ones).
 * Lines mix lowercase words, capitalised and mixed-case words, numbers, dates, times,
 * prices, percentages and codes. The same seed gives the same images, byte for byte.
 */
import { Jimp, loadFont, measureText } from 'jimp';
import * as fonts from 'jimp/fonts';
import { seededRandom } from '@yunbian/common';

export type CorpusFont = keyof typeof fonts;

export interface CorpusOptions {
  count: number;
  seed?: number;
}

export interface CorpusImage {
  /** File name, e.g. `0007-sans16.png`. */
  name: string;
  png: Buffer;
  width: number;
  height: number;
  /** The text of each line, top to bottom, exactly as drawn. */
  lines: string[];
  font: CorpusFont;
  fontSize: number;
  background: 'light' | 'dark';
}

export interface CorpusManifest {
  seed: number;
  count: number;
  images: Omit<CorpusImage, 'png'>[];
}

export const DEFAULT_SEED = 20261126;

type Font = Awaited<ReturnType<typeof loadFont>>;

interface FontChoice {
  font: CorpusFont;
  size: number;
  background: 'light' | 'dark';
  /** Relative frequency in the corpus. */
  weight: number;
  maxLines: number;
}

// 8 px glyphs are too small for the detector; 128 px lines barely fit a page.
const FONT_CHOICES: FontChoice[] = [
  { font: 'SANS_10_BLACK', size: 10, background: 'light', weight: 1, maxLines: 4 },
  { font: 'SANS_12_BLACK', size: 12, background: 'light', weight: 2, maxLines: 4 },
  { font: 'SANS_14_BLACK', size: 14, background: 'light', weight: 2, maxLines: 4 },
  { font: 'SANS_16_BLACK', size: 16, background: 'light', weight: 3, maxLines: 4 },
  { font: 'SANS_32_BLACK', size: 32, background: 'light', weight: 3, maxLines: 3 },
  { font: 'SANS_64_BLACK', size: 64, background: 'light', weight: 1, maxLines: 2 },
  { font: 'SANS_16_WHITE', size: 16, background: 'dark', weight: 1, maxLines: 3 },
  { font: 'SANS_32_WHITE', size: 32, background: 'dark', weight: 1, maxLines: 3 },
  { font: 'SANS_64_WHITE', size: 64, background: 'dark', weight: 1, maxLines: 2 },
];

const LIGHT_BACKGROUNDS = [0xffffffff, 0xf7f7f2ff, 0xeef3f8ff, 0xfaf3e6ff];
const DARK_BACKGROUNDS = [0x1d2430ff, 0x2b2b2bff, 0x17324dff, 0x3a1f2bff];

const WORDS = (
  'order shipment sensor reading pressure battery network station factory camera invoice receipt total ' +
  'amount quantity weight gate line model version status ready alarm cloud edge node packet label storage ' +
  'service delivery customer account balance payment warning error signal motor valve window garden yellow ' +
  'purple orange silver winter summer morning evening river bridge market ticket platform counter number ' +
  'office building floor quick brown fox jumps over lazy dog pack my box with five dozen liquor jugs from to and the of'
).split(' ');
const CAPITALISED = (
  'Shenzhen Hangzhou Beijing Shanghai London Berlin Tokyo Paris Monday Friday January October Alice Bob ' +
  'Charlie Warehouse Gateway Inspector Kitchen Station'
).split(' ');
const MIXED_CASE = 'iPhone OpenCV NATS JetStream McDonald YouTube GitHub PaddleOCR eBay NodeJS ONNX WiFi'.split(' ');
const CODE_PREFIXES = ['INV', 'SN', 'PO', 'ID', 'REF'];

class Chooser {
  constructor(readonly random: () => number) {}

  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  weighted<T extends { weight: number }>(items: readonly T[]): T {
    let ticket = this.random() * items.reduce((sum, item) => sum + item.weight, 0);
    for (const item of items) {
      ticket -= item.weight;
      if (ticket < 0) return item;
    }
    return items[items.length - 1];
  }

  digits(count: number): string {
    return Array.from({ length: count }, () => this.int(0, 9)).join('');
  }
}

function token(choose: Chooser): string {
  const two = (n: number) => String(n).padStart(2, '0');
  switch (choose.int(0, 11)) {
    case 0:
      return choose.pick(CAPITALISED);
    case 1:
      return choose.pick(MIXED_CASE);
    case 2:
      return String(choose.int(0, 99999));
    case 3:
      return `${choose.int(0, 999)}.${choose.digits(2)}`;
    case 4:
      return `${choose.int(2019, 2027)}-${two(choose.int(1, 12))}-${two(choose.int(1, 28))}`;
    case 5:
      return `${two(choose.int(0, 23))}:${two(choose.int(0, 59))}`;
    case 6:
      return `${choose.pick(CODE_PREFIXES)}-${choose.digits(choose.int(3, 6))}`;
    case 7:
      return `${choose.int(1, 99)}%`;
    case 8:
      return `$${choose.int(1, 999)}.${choose.digits(2)}`;
    case 9:
      return choose.pick(WORDS).toUpperCase();
    default:
      return choose.pick(WORDS);
  }
}

function line(choose: Chooser, maxWidth: number, font: Font): string {
  const words: string[] = [];
  const wanted = choose.int(1, 5);
  while (words.length < wanted) {
    const word = token(choose);
    if (words.length > 0 && measureText(font, [...words, word].join(' ')) > maxWidth) break;
    words.push(word);
  }
  return words.join(' ');
}

const loadedFonts = new Map<CorpusFont, Promise<Font>>();

function fontNamed(name: CorpusFont): Promise<Font> {
  let font = loadedFonts.get(name);
  if (!font) {
    font = loadFont(fonts[name]);
    loadedFonts.set(name, font);
  }
  return font;
}

export interface RenderOptions {
  font?: CorpusFont;
  /** RGBA as 0xRRGGBBAA. */
  background?: number;
  marginX?: number;
  marginY?: number;
  /** Extra pixels between lines. */
  gap?: number;
  /** Left indent of each line, in pixels. */
  indents?: readonly number[];
}

/** Draws lines of text into a PNG just large enough to hold them with the margins. */
export async function renderText(
  lines: readonly string[],
  {
    font: fontName = 'SANS_32_BLACK',
    background = 0xffffffff,
    marginX = 10,
    marginY = 8,
    gap = 0,
    indents = [],
  }: RenderOptions = {},
): Promise<{ png: Buffer; width: number; height: number }> {
  const font = await fontNamed(fontName);
  const lineHeight = font.common.lineHeight;
  const width = Math.max(...lines.map((text, i) => (indents[i] ?? 0) + measureText(font, text))) + 2 * marginX;
  const height = lines.length * lineHeight + (lines.length - 1) * gap + 2 * marginY;
  const image = new Jimp({ width, height, color: background });
  lines.forEach((text, i) => {
    image.print({ font, x: marginX + (indents[i] ?? 0), y: marginY + i * (lineHeight + gap), text });
  });
  // Unfiltered PNG rows: pngjs's adaptive filter search is ~100× slower under Jest (about a
  // second an image there) and buys nothing on flat synthetic images.
  return { png: await image.getBuffer('image/png', { filterType: 0 }), width, height };
}

/** Generates `count` images in memory; the same options always give the same images. */
export async function generateCorpus({ count, seed = DEFAULT_SEED }: CorpusOptions): Promise<CorpusImage[]> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`count must be a positive integer (got ${count})`);
  const choose = new Chooser(seededRandom(seed));
  const images: CorpusImage[] = [];
  for (let index = 0; index < count; index++) {
    const { font, size, background, maxLines } = choose.weighted(FONT_CHOICES);
    const loaded = await fontNamed(font);
    const lines = Array.from({ length: choose.int(1, maxLines) }, () => line(choose, size * 22, loaded));
    const gap = Math.round(loaded.common.lineHeight * (0.3 + choose.random() * 0.6));
    const marginX = choose.int(8, 40);
    const marginY = choose.int(6, 30);
    const indents = lines.map(() => (choose.random() < 0.3 ? choose.int(0, size * 3) : 0));
    const colour = choose.pick(background === 'light' ? LIGHT_BACKGROUNDS : DARK_BACKGROUNDS);
    const rendered = await renderText(lines, { font, background: colour, marginX, marginY, gap, indents });
    images.push({
      name: `${String(index).padStart(4, '0')}-sans${size}${background === 'dark' ? '-dark' : ''}.png`,
      ...rendered,
      lines,
      font,
      fontSize: size,
      background,
    });
  }
  return images;
}

export function corpusManifest(images: readonly CorpusImage[], seed: number): CorpusManifest {
  return { seed, count: images.length, images: images.map(({ png: _png, ...rest }) => rest) };
}
