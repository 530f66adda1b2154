import { COMPRESSION_RECIPES, NODE_TIERS, type CompressRequest, type DatasetMeta } from '@yunbian/contracts';

const DATASET_NAME = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' } as const;

/** JSON Schema of `POST /models/{name}/versions/{v}/compress`. */
export const COMPRESS_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['recipe', 'datasets'],
  properties: {
    recipe: { enum: [...COMPRESSION_RECIPES] },
    datasets: {
      type: 'object',
      additionalProperties: false,
      required: ['validation'],
      properties: {
        validation: { ...DATASET_NAME, description: 'labelled: accuracy of parent and result' },
        calibration: { ...DATASET_NAME, description: 'int8: activation ranges (default: validation)' },
        training: { ...DATASET_NAME, description: 'structured: fine-tuning (labelled); distill: teacher-labelled' },
      },
    },
    options: {
      type: 'object',
      additionalProperties: false,
      properties: {
        calibration: { enum: ['minmax', 'percentile'] },
        percentile: { type: 'number', exclusiveMinimum: 50, maximum: 100 },
        calibrationSamples: { type: 'integer', minimum: 1, maximum: 10_000 },
        sparsity: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
        keep: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        epochs: { type: 'integer', minimum: 0, maximum: 50 },
        student: {
          type: 'object',
          additionalProperties: false,
          required: ['conv', 'dense'],
          properties: {
            conv: { type: 'array', maxItems: 2, items: { type: 'integer', minimum: 1, maximum: 128 } },
            dense: { type: 'array', maxItems: 3, items: { type: 'integer', minimum: 1, maximum: 1024 } },
          },
        },
        seed: { type: 'integer' },
        nodeClasses: { type: 'array', uniqueItems: true, items: { enum: [...NODE_TIERS] } },
        batchSize: { type: 'integer', minimum: 2, maximum: 1024 },
        runs: { type: 'integer', minimum: 5, maximum: 5_000 },
      },
    },
  },
} as const;

/**
 * What a valid body still lacks against the registered datasets: the datasets a recipe
 * needs, that they exist, carry labels where needed and hold 28×28 digits for the recipes
 * that train. Returns problems as pointer + sentence.
 */
export function compressProblems(
  request: CompressRequest,
  dataset: (name: string) => DatasetMeta | undefined,
  registered: string[],
  /** Shape of the model's input as the registry read it (first dimension: the batch). */
  modelInput?: readonly (number | string)[],
): string[] {
  const problems: string[] = [];
  const roles = Object.entries(request.datasets) as [keyof CompressRequest['datasets'], string][];
  for (const [role, name] of roles) {
    const meta = dataset(name);
    if (!meta) {
      problems.push(
        `/datasets/${role} names "${name}", which is not registered (registered: ${registered.join(', ') || 'none'}; POST /datasets)`,
      );
      continue;
    }
    if ((role === 'validation' || (role === 'training' && request.recipe === 'structured')) && !meta.labelled)
      problems.push(
        `/datasets/${role} "${name}" has no labels; the ${role === 'validation' ? 'accuracy' : 'fine-tuning'} needs a labelled dataset`,
      );
    const sample = modelInput?.slice(1);
    if (
      sample &&
      (sample.length !== meta.shape.length || sample.some((d, i) => typeof d === 'number' && d !== meta.shape[i]))
    )
      problems.push(
        `/datasets/${role} "${name}" holds [${meta.shape.join(', ')}] samples; the model's input takes [${modelInput!.join(', ')}]`,
      );
    else if ((request.recipe === 'structured' || request.recipe === 'distill') && meta.shape.join(',') !== '1,28,28')
      problems.push(
        `/datasets/${role} "${name}" holds [${meta.shape.join(', ')}] samples; ${request.recipe} trains digits CNNs on [1, 28, 28]`,
      );
  }
  if ((request.recipe === 'structured' || request.recipe === 'distill') && !request.datasets.training)
    problems.push(
      `/datasets/training is required by the ${request.recipe} recipe (${request.recipe === 'structured' ? 'labelled fine-tuning samples' : 'samples the teacher labels'})`,
    );
  if (request.recipe !== 'int8' && request.datasets.calibration)
    problems.push(`/datasets/calibration is only used by the int8 recipe`);
  const o = request.options ?? {};
  const only: Record<string, string[]> = {
    int8: ['calibration', 'percentile', 'calibrationSamples'],
    prune: ['sparsity'],
    structured: ['keep', 'epochs', 'seed'],
    distill: ['student', 'epochs', 'seed'],
  };
  const general = ['nodeClasses', 'batchSize', 'runs'];
  for (const key of Object.keys(o)) {
    if (!general.includes(key) && !only[request.recipe].includes(key))
      problems.push(
        `/options/${key} does not apply to the ${request.recipe} recipe (it takes ${[...only[request.recipe], ...general].join(', ')})`,
      );
  }
  return problems;
}
