import type { DatasetMeta } from '@yunbian/contracts';
import { compressProblems } from './compression-request';

const set = (name: string, labelled = true, shape = [1, 28, 28]): DatasetMeta => ({
  name,
  privacy: 'public',
  labelled,
  count: 10,
  shape,
  size: 0,
  sha256: '',
  object: { bucket: 'yb-datasets', name },
  source: { kind: 'upload' },
  createdAt: '',
});
const registered = [set('held'), set('unlabelled', false), set('rgb', true, [3, 32, 32])];
const find = (n: string) => registered.find((d) => d.name === n);
const names = registered.map((d) => d.name);

describe('compress request checks', () => {
  it('accepts a complete int8 request', () => {
    expect(
      compressProblems(
        { recipe: 'int8', datasets: { validation: 'held' }, options: { calibration: 'percentile', runs: 50 } },
        find,
        names,
      ),
    ).toEqual([]);
  });

  it('names unknown datasets and lists the registered ones', () => {
    expect(compressProblems({ recipe: 'int8', datasets: { validation: 'nope' } }, find, names)).toEqual([
      '/datasets/validation names "nope", which is not registered (registered: held, unlabelled, rgb; POST /datasets)',
    ]);
  });

  it('needs labels for validation and for structured fine-tuning, and digits for the training recipes', () => {
    expect(
      compressProblems({ recipe: 'structured', datasets: { validation: 'unlabelled', training: 'rgb' } }, find, names),
    ).toEqual([
      '/datasets/validation "unlabelled" has no labels; the accuracy needs a labelled dataset',
      '/datasets/training "rgb" holds [3, 32, 32] samples; structured trains digits CNNs on [1, 28, 28]',
    ]);
    expect(compressProblems({ recipe: 'distill', datasets: { validation: 'held' } }, find, names)).toEqual([
      '/datasets/training is required by the distill recipe (samples the teacher labels)',
    ]);
    // Distillation labels its training set itself: no labels needed.
    expect(
      compressProblems({ recipe: 'distill', datasets: { validation: 'held', training: 'unlabelled' } }, find, names),
    ).toEqual([]);
  });

  it("checks the datasets' samples against the model's input", () => {
    expect(
      compressProblems({ recipe: 'int8', datasets: { validation: 'rgb' } }, find, names, ['batch', 1, 28, 28]),
    ).toEqual(['/datasets/validation "rgb" holds [3, 32, 32] samples; the model\'s input takes [batch, 1, 28, 28]']);
    expect(
      compressProblems({ recipe: 'int8', datasets: { validation: 'held' } }, find, names, ['batch', 1, 'h', 28]),
    ).toEqual([]);
  });

  it("refuses options of another recipe, listing the recipe's own", () => {
    expect(
      compressProblems(
        { recipe: 'prune', datasets: { validation: 'held', calibration: 'held' }, options: { keep: 0.5 } },
        find,
        names,
      ),
    ).toEqual([
      '/datasets/calibration is only used by the int8 recipe',
      '/options/keep does not apply to the prune recipe (it takes sparsity, nodeClasses, batchSize, runs)',
    ]);
  });
});
