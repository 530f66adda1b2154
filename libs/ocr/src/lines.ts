import { DEFAULT_LINE_ASSEMBLY, type LineAssemblyOptions } from './parameters';
import type { OcrLine, OcrRegion } from './types';

/**
 * Step 6 — line assembly, as the reference's `calculateBox`/`afAfRec`: regions below the
 * confidence floor are dropped; a region joins the first line whose first region's midline
 * is within half the mean region height of its own, else starts a line; each line reads
 * left to right joined by spaces, with the mean confidence and the box spanning its
 * regions; lines go top to bottom.
 */
export function assembleLines(regions: readonly OcrRegion[], options: Partial<LineAssemblyOptions> = {}): OcrLine[] {
  const { minConfidence } = { ...DEFAULT_LINE_ASSEMBLY, ...options };
  const kept = regions.filter((region) => region.confidence >= minConfidence);
  if (kept.length === 0) return [];
  const top = (region: OcrRegion) => region.quad[0][1];
  const bottom = (region: OcrRegion) => region.quad[2][1];
  const midline = (region: OcrRegion) => (top(region) + bottom(region)) / 2;
  const meanHeight = kept.reduce((sum, region) => sum + bottom(region) - top(region), 0) / kept.length;

  const groups: OcrRegion[][] = [];
  for (const region of kept) {
    const line = groups.find((group) => Math.abs(midline(group[0]) - midline(region)) < meanHeight / 2);
    if (line) line.push(region);
    else groups.push([region]);
  }
  for (const group of groups) group.sort((a, b) => a.quad[0][0] - b.quad[0][0]);
  groups.sort((a, b) => top(a[0]) - top(b[0]));

  return groups.map((group) => {
    const first = group[0];
    const last = group[group.length - 1];
    return {
      text: group.map((region) => region.text).join(' '),
      confidence: group.reduce((sum, region) => sum + region.confidence, 0) / group.length,
      quad: [first.quad[0], last.quad[1], last.quad[2], first.quad[3]],
    };
  });
}
