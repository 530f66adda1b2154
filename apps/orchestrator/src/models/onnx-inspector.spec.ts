import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspectOnnxModel } from './onnx-inspector';

/** The parent side of the inspection, with stand-in child scripts (the real one needs the build). */
describe('inspectOnnxModel', () => {
  let folder: string;
  const limits = { timeoutMs: 5_000, maxOldSpaceMb: 64, maxMemoryMb: 1024 };
  const script = (name: string, source: string) => {
    const file = path.join(folder, `${name}.js`);
    writeFileSync(file, source);
    return file;
  };

  beforeAll(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'yb-inspector-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('returns the inputs and outputs the child reports', async () => {
    const child = script(
      'ok',
      `process.send({ ok: true, inputs: [{ name: 'x', isTensor: true, type: 'float32', shape: [1, 3] }], outputs: [] }, () => process.exit(0));`,
    );
    const result = await inspectOnnxModel('/tmp/m.onnx', 'model "m"', limits, child);
    expect(result).toMatchObject({
      inputs: [{ name: 'x', isTensor: true, type: 'float32', shape: [1, 3] }],
      outputs: [],
    });
    // This stand-in reports no peak of its own and exits at once, possibly before the parent's
    // first memory read: a peak, when there is one, is a positive number of MB.
    if (result.peakMemoryMb !== undefined) expect(result.peakMemoryMb).toBeGreaterThan(0);
  });

  it("passes onnxruntime's message on as a 400, with the temp path replaced", async () => {
    const child = script(
      'refuse',
      `process.send({ ok: false, error: 'Load model from ' + process.argv[2] + ' failed:Protobuf parsing failed.' }, () => process.exit(0));`,
    );
    await expect(inspectOnnxModel('/tmp/upload-123.onnx', 'model "m"', limits, child)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message:
        'model "m" is not a model onnxruntime can load: Load model from <upload> failed:Protobuf parsing failed.',
    });
  });

  it('turns a crash of the child into a 400 naming the signal', async () => {
    const child = script('abort', `process.kill(process.pid, 'SIGSEGV');`);
    await expect(inspectOnnxModel('/tmp/m.onnx', 'model "m"', limits, child)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('the inspector process was killed by SIGSEGV'),
    });
  });

  it('stops a child that outgrows its heap cap', async () => {
    const child = script('hog', `const hoard = []; for (;;) hoard.push(new Array(1e6).fill({ x: 1 }));`);
    await expect(inspectOnnxModel('/tmp/m.onnx', 'model "m"', limits, child)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/the inspector process (was killed by|exited with).*heap cap 64 MB/),
    });
  });

  it('stops a child whose native memory passes the bound and says so: peak, bound, setting', async () => {
    // Buffers live outside the V8 heap, like onnxruntime's tensors: only the RSS watch sees them.
    const child = script('native-hog', `const keep = []; setInterval(() => keep.push(Buffer.alloc(32 << 20, 1)), 5);`);
    const error = (await inspectOnnxModel('/tmp/m.onnx', 'model "m"', { ...limits, maxMemoryMb: 200 }, child).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code: string; message: string; details: { peakMemoryMb: number; boundMb: number } };
    expect(error).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('model "m" was refused: loading it with onnxruntime'),
      details: { boundMb: 200, setting: 'YUNBIAN_MODEL_INSPECT_MEMORY_MB' },
    });
    expect(error.details.peakMemoryMb).toBeGreaterThan(200);
    expect(error.message).toMatch(/more than 200 MB \(the inspector process reached \d+ MB/);
    expect(error.message).toContain('raising YUNBIAN_MODEL_INSPECT_MEMORY_MB on the orchestrator (now 200)');
  });

  it('reports the peak memory of a child that stays within the bound', async () => {
    const child = script(
      'small',
      `process.send({ ok: true, inputs: [], outputs: [], peakMemoryMb: 42 }, () => process.exit(0));`,
    );
    const result = await inspectOnnxModel('/tmp/m.onnx', 'model "m"', limits, child);
    expect(result.peakMemoryMb).toBeGreaterThanOrEqual(42);
    expect(result.peakMemoryMb).toBeLessThan(1024);
  });

  it('kills a child that takes longer than the timeout (504)', async () => {
    const child = script('hang', `setInterval(() => undefined, 1000);`);
    const started = Date.now();
    await expect(
      inspectOnnxModel('/tmp/m.onnx', 'model "m"', { ...limits, timeoutMs: 300 }, child),
    ).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('longer than 300 ms') });
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
