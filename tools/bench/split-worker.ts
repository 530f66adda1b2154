/**
 * One end of `npm run bench:split` (see split.ts): `device` (in the quarter-core cgroup) runs
 * the head and sends the cut tensors over the emulated link; `edge` runs the tail and
 * acknowledges. Frames: u32 header bytes, u32 body bytes, header JSON, body (float32 tensors).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import * as ort from 'onnxruntime-node';
import { MODEL_SESSION_OPTIONS } from '@yunbian/inference';
import { decodeModel, encodeModel, type OnnxModel } from '@yunbian/onnx';
import {
  computeGraph,
  cutFromId,
  measureTensorSizes,
  profileNodes,
  sampleFeeds,
  splitModel,
  type ComputeGraph,
  type MeasuredProfile,
  type TensorSizes,
} from '@yunbian/split';

export type SplitWorkerRequest =
  | { id: number; kind: 'listen' }
  | { id: number; kind: 'connect'; port: number }
  | { id: number; kind: 'profile'; file: string; inputShape: Record<string, number[]>; runs: number }
  | { id: number; kind: 'load'; file: string; inputShape: Record<string, number[]>; cut: string }
  | { id: number; kind: 'run'; warm?: boolean };

export type SplitWorkerReply =
  | { id: number; ok: true; port?: number; profile?: MeasuredProfile; ms?: number }
  | { id: number; ok: false; error: string };

const role = process.argv[2] as 'device' | 'edge';
const models = new Map<string, { model: OnnxModel; graph: ComputeGraph; sizes: TensorSizes }>();
let session: ort.InferenceSession | undefined;
let kind = 'all-first';
let feeds: Record<string, ort.Tensor> = {};
let socket: net.Socket | undefined;
let acked: (() => void) | undefined;

function frames(
  sock: net.Socket,
  onFrame: (header: { tensors: { name: string; dims: number[] }[] }, body: Buffer) => void,
) {
  let buffer: Buffer = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    while (buffer.length >= 8) {
      const h = buffer.readUInt32LE(0);
      const b = buffer.readUInt32LE(4);
      if (buffer.length < 8 + h + b) break;
      const header = JSON.parse(buffer.subarray(8, 8 + h).toString()) as {
        tensors: { name: string; dims: number[] }[];
      };
      const body = buffer.subarray(8 + h, 8 + h + b);
      buffer = buffer.subarray(8 + h + b);
      onFrame(header, body);
    }
  });
}

function frame(tensors: Record<string, ort.Tensor>): Buffer {
  const list = Object.entries(tensors);
  const header = Buffer.from(JSON.stringify({ tensors: list.map(([name, t]) => ({ name, dims: t.dims })) }));
  const bodies = list.map(([, t]) => {
    const data = t.data as Float32Array;
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  });
  const head = Buffer.alloc(8);
  head.writeUInt32LE(header.length, 0);
  head.writeUInt32LE(
    bodies.reduce((s, b) => s + b.length, 0),
    4,
  );
  return Buffer.concat([head, header, ...bodies]);
}

async function load(file: string, inputShape: Record<string, number[]>, cutId: string): Promise<void> {
  let m = models.get(file);
  if (!m) {
    const model = decodeModel(readFileSync(file));
    const graph = computeGraph(model);
    m = { model, graph, sizes: await measureTensorSizes(model, graph, inputShape) };
    models.set(file, m);
  }
  await session?.release();
  session = undefined;
  const cut = cutFromId(m.graph, cutId);
  kind = cut.kind;
  feeds = sampleFeeds(ort, m.model, inputShape);
  const parts =
    cut.kind === 'all-first' || cut.kind === 'all-second' ? undefined : splitModel(m.model, m.graph, cut, m.sizes);
  const part =
    role === 'device'
      ? cut.kind === 'all-first'
        ? m.model
        : parts?.head
      : cut.kind === 'all-second'
        ? m.model
        : parts?.tail;
  if (part) session = await ort.InferenceSession.create(encodeModel(part), MODEL_SESSION_OPTIONS);
}

async function runOnce(): Promise<number> {
  const started = performance.now();
  if (kind === 'all-first') {
    await session!.run(feeds);
    return performance.now() - started;
  }
  const out = kind === 'all-second' ? feeds : await session!.run(feeds);
  const done = new Promise<void>((r) => (acked = r));
  socket!.write(frame(out));
  await done;
  return performance.now() - started;
}

async function handle(request: SplitWorkerRequest): Promise<SplitWorkerReply> {
  switch (request.kind) {
    case 'listen': {
      const server = net.createServer((sock) => {
        sock.setNoDelay(true);
        frames(sock, (header, body) => {
          const inputs: Record<string, ort.Tensor> = {};
          let offset = 0;
          for (const t of header.tensors) {
            const n = t.dims.reduce((a, b) => a * b, 1);
            const data = new Float32Array(n);
            Buffer.from(data.buffer).set(body.subarray(offset, offset + 4 * n));
            offset += 4 * n;
            inputs[t.name] = new ort.Tensor('float32', data, t.dims);
          }
          const names = session!.inputNames;
          void session!
            .run(Object.fromEntries(names.map((n) => [n, inputs[n]])))
            .then(() => sock.write(Buffer.from([1])));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return { id: request.id, ok: true, port: (server.address() as net.AddressInfo).port };
    }
    case 'connect':
      socket = net.connect(request.port, '127.0.0.1');
      socket.setNoDelay(true);
      socket.on('data', () => acked?.());
      await new Promise<void>((r) => socket!.once('connect', () => r()));
      return { id: request.id, ok: true };
    case 'profile': {
      const model = decodeModel(readFileSync(request.file));
      const profile = await profileNodes(model, computeGraph(model), request.inputShape, request.runs);
      return { id: request.id, ok: true, profile };
    }
    case 'load':
      await load(request.file, request.inputShape, request.cut);
      return { id: request.id, ok: true };
    case 'run':
      return { id: request.id, ok: true, ms: await runOnce() };
  }
}

process.on('message', (request: SplitWorkerRequest) => {
  void handle(request)
    .catch((err: Error): SplitWorkerReply => ({ id: request.id, ok: false, error: err.message }))
    .then((reply) => process.send?.(reply));
});
