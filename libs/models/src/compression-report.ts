import type { CompressionReport } from '@yunbian/contracts';

/**
 * parent bytes / compressed bytes, and compressed − parent accuracy in points (3 and 2
 * decimals): the two figures a `CompressionReport` leads with, whoever ran the recipe.
 */
export function compressionDeltas(
  parent: { bytes: number; accuracy: number },
  compressed: { bytes: number; accuracy: number },
): Pick<CompressionReport, 'sizeRatio' | 'accuracyDeltaPoints'> {
  return {
    sizeRatio: Math.round((parent.bytes / compressed.bytes) * 1000) / 1000,
    accuracyDeltaPoints: Math.round((compressed.accuracy - parent.accuracy) * 100 * 100) / 100,
  };
}
