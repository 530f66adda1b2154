/**
 * One end of `npm run bench:split` (see split.ts): `device` (in the quarter-core cgroup) runs
 * the head and sends the cut tensors over the link (on the testbed: through the device site's
 * delay proxy and the tbf-shaped veth to the edge site); `edge` runs the tail and acknowledges
 * with one byte. Frames: u32 header bytes, u32 body bytes, header JSON, body (float32 tensors).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import * as ort from 'onnxruntime-node';
import { MODEL_SESSION_OPTIONS } from '@yunbian/inference';
import { decodeModel, encodeModel, type OnnxModel } from '@yunbian/onnx';
import {
  computeGraph,
  cutFromId,
  profileNodes,
  sampleFeeds,
  splitModel,
  type ComputeGraph,
  type MeasuredProfile,
  type TensorSizes,
} from '@yunbian/split';

export type SplitWorkerRequest =
  | { id: number; kind: 'listen'; host: string; port: number }
  | { id: number; kind: 'connect'; host: string; port: number }
  | { id: number; kind: 'profile'; file: string; inputShape: Record<string, number[]>; runs: number }
  | {
      id: number;
      kind: 'load';
      file: string;
      inputShape: Record<string, number[]>;
      /** Measured once by the bench (not again under the device's quarter core). */
      sizes: TensorSizes;
      cut: string;
    }
  | { id: number; kind: 'release'; keep: string[] }
  | { id: number; kind: 'run'; cut: string };

export type SplitWorkerReply =
  | {
      id: number;
      ok: true;
      port?: number;
      profile?: MeasuredProfile;
      /** A run: the whole time, the head's on the device and the tail's on the edge (ms). */
      run?: { ms: number; headMs: number; tailMs: number };
    }
  | { id: number; ok: false; error: string };

const role = process.argv[2] as 'device' | 'edge';
const models = new Map<string, { model: OnnxModel; graph: ComputeGraph }>();
/**
 * Loaded cuts by id: this side's part (none on the device for all-second, none on the edge
 * for all-first) and the sample input. Several at once, so runs of competing cuts can alternate.
 */
const loaded = new Map<string, { kind: string; session?: ort.InferenceSession; feeds: Record<string, ort.Tensor> }>();
let socket: net.Socket | undefined;
/** Resolved with the tail's compute time (ms) the edge sends back once it has run the tail. */
let acked: ((tailMs: number) => void) | undefined;

/**
 * Calls `onFrame` for every complete frame read from `sock`. Chunks are kept in a list and
 * joined once a frame is complete (joining at every chunk would copy a 6 MB frame ~100 times).
 */
interface FrameHeader {
  cut: string;
  tensors: { name: string; dims: number[] }[];
}

function frames(sock: net.Socket, onFrame: (header: FrameHeader, body: Buffer) => void) {
  let chunks: Buffer[] = [];
  let length = 0;
  let needed = 8;
  sock.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    while (length >= needed) {
      let buffer = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
      chunks = [buffer];
      const h = buffer.readUInt32LE(0);
      const b = buffer.readUInt32LE(4);
      needed = 8 + h + b;
      if (length < needed) break;
      const header = JSON.parse(buffer.subarray(8, 8 + h).toString()) as FrameHeader;
      const body = buffer.subarray(8 + h, needed);
      buffer = buffer.subarray(needed);
      chunks = buffer.length ? [buffer] : [];
      length = buffer.length;
      needed = 8;
      onFrame(header, body);
    }
  });
}

function frame(cut: string, tensors: Record<string, ort.Tensor>): Buffer {
  const list = Object.entries(tensors);
  const header = Buffer.from(
    JSON.stringify({ cut, tensors: list.map(([name, t]) => ({ name, dims: [...t.dims] })) } satisfies FrameHeader),
  );
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

async function load(
  file: string,
  inputShape: Record<string, number[]>,
  sizes: TensorSizes,
  cutId: string,
): Promise<void> {
  let m = models.get(file);
  if (!m) {
    const model = decodeModel(readFileSync(file));
    m = { model, graph: computeGraph(model) };
    models.set(file, m);
  }
  if (loaded.has(cutId)) return;
  const cut = cutFromId(m.graph, cutId);
  const feeds = sampleFeeds(ort, m.model, inputShape);
  const parts =
    cut.kind === 'all-first' || cut.kind === 'all-second' ? undefined : splitModel(m.model, m.graph, cut, sizes);
  const part =
    role === 'device'
      ? cut.kind === 'all-first'
        ? m.model
        : parts?.head
      : cut.kind === 'all-second'
        ? m.model
        : parts?.tail;
  const session = part ? await ort.InferenceSession.create(encodeModel(part), MODEL_SESSION_OPTIONS) : undefined;
  loaded.set(cutId, { kind: cut.kind, session, feeds });
}

/** Releases every loaded cut but `keep`. */
async function release(keep: readonly string[]): Promise<void> {
  for (const [id, cut] of loaded) {
    if (keep.includes(id)) continue;
    loaded.delete(id);
    await cut.session?.release();
  }
}

function loadedCut(id: string) {
  const cut = loaded.get(id);
  if (!cut) throw new Error(`cut ${id} is not loaded here; loaded: ${[...loaded.keys()].join(', ') || 'none'}`);
  return cut;
}

/** One inference: the whole time, the head's (on this side) and the tail's (on the edge, as it reports). */
async function runOnce(id: string): Promise<{ ms: number; headMs: number; tailMs: number }> {
  const { kind, session, feeds } = loadedCut(id);
  const started = performance.now();
  if (kind === 'all-first') {
    await session!.run(feeds);
    const ms = performance.now() - started;
    return { ms, headMs: ms, tailMs: 0 };
  }
  const out = kind === 'all-second' ? feeds : await session!.run(feeds);
  const headMs = performance.now() - started;
  const done = new Promise<number>((r) => (acked = r));
  socket!.write(frame(id, out));
  const tailMs = await done;
  return { ms: performance.now() - started, headMs, tailMs };
}

/** Acks are 8 bytes each (the tail's ms, float64). */
function frameAcks(sock: net.Socket): void {
  let pending = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const tailMs = pending.readDoubleLE(0);
      pending = pending.subarray(8);
      acked?.(tailMs);
    }
  });
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
          const session = loadedCut(header.cut).session!;
          const names = session.inputNames;
          const started = performance.now();
          void session.run(Object.fromEntries(names.map((n) => [n, inputs[n]]))).then(
            () => {
              const ack = Buffer.alloc(8);
              ack.writeDoubleLE(performance.now() - started);
              sock.write(ack);
            },
            (err: Error) => process.stderr.write(`edge: the tail failed: ${err.message}\n`),
          );
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(request.port, request.host, resolve);
      });
      return { id: request.id, ok: true, port: (server.address() as net.AddressInfo).port };
    }
    case 'connect':
      socket = net.connect(request.port, request.host);
      socket.setNoDelay(true);
      frameAcks(socket);
      await new Promise<void>((resolve, reject) => {
        socket!.once('connect', () => resolve());
        socket!.once('error', reject);
      });
      return { id: request.id, ok: true };
    case 'profile': {
      const model = decodeModel(readFileSync(request.file));
      const profile = await profileNodes(model, computeGraph(model), request.inputShape, request.runs);
      return { id: request.id, ok: true, profile };
    }
    case 'load':
      await load(request.file, request.inputShape, request.sizes, request.cut);
      return { id: request.id, ok: true };
    case 'run':
      return { id: request.id, ok: true, run: await runOnce(request.cut) };
    case 'release':
      await release(request.keep);
      return { id: request.id, ok: true };
  }
}

process.on('message', (request: SplitWorkerRequest) => {
  void handle(request)
    .catch((err: Error): SplitWorkerReply => ({ id: request.id, ok: false, error: err.message }))
    .then((reply) => process.send?.(reply));
});
