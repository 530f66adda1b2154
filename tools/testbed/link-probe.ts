/**
 * A raw TCP check of one emulated link, through the same path the site's leaf node uses
 * (the delay proxy, then the shaped veth): round trip as the smallest of 15 small echoes, bandwidth each
 * way from a bulk transfer timed at the receiving end (first byte to last, so the
 * proxy's buffering and the link's delay do not count as transfer time).
 *
 *   node link-probe.js serve --listen 10.231.1.1:7470
 *   node link-probe.js measure --connect 127.0.0.1:7471 --up-bytes N --down-bytes M
 *
 * `measure` prints one JSON line: { rttMs, upMbps, downMbps }.
 */
import net from 'node:net';

interface Request {
  mode: 'ping' | 'up' | 'down';
  bytes?: number;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

function hostPort(text: string | undefined, flag: string): { host: string; port: number } {
  const m = /^([\d.]+):(\d+)$/.exec(text ?? '');
  if (!m) throw new Error(`${flag} must be host:port (got "${text}")`);
  return { host: m[1], port: Number(m[2]) };
}

/** Reads the first line of a socket, then hands over the rest of the stream. */
function firstLine(socket: net.Socket): Promise<{ line: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(10);
      if (nl >= 0) {
        socket.off('data', onData);
        socket.pause();
        resolve({ line: buffered.subarray(0, nl).toString(), rest: buffered.subarray(nl + 1) });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Counts `bytes` arriving on `socket`; ms from the first to the last byte. */
function receive(socket: net.Socket, bytes: number, initial: Buffer): Promise<{ bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    let got = 0;
    let firstAt: number | undefined;
    let firstBytes = 0;
    const take = (chunk: Buffer) => {
      const now = performance.now();
      if (firstAt === undefined && chunk.length > 0) {
        firstAt = now;
        firstBytes = chunk.length;
      }
      got += chunk.length;
      if (got >= bytes) {
        socket.off('data', take);
        // The first chunk arrived at firstAt: only the bytes after it took the measured time.
        resolve({ bytes: got - firstBytes, ms: now - (firstAt ?? now) });
      }
    };
    socket.on('data', take);
    socket.once('error', reject);
    socket.once('close', () => got < bytes && reject(new Error(`connection closed after ${got} of ${bytes} bytes`)));
    if (initial.length) take(initial);
    socket.resume();
  });
}

function send(socket: net.Socket, bytes: number): void {
  let left = bytes;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

function serve(listen: { host: string; port: number }): void {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    void firstLine(socket).then(async ({ line, rest }) => {
      const request = JSON.parse(line) as Request;
      if (request.mode === 'ping') {
        socket.on('data', (chunk) => socket.write(chunk));
        if (rest.length) socket.write(rest);
        socket.resume();
      } else if (request.mode === 'up') {
        const result = await receive(socket, request.bytes ?? 0, rest);
        socket.end(JSON.stringify(result) + '\n');
      } else {
        socket.resume();
        send(socket, request.bytes ?? 0);
      }
    });
  });
  server.listen(listen.port, listen.host, () => process.stdout.write(`listening ${listen.host}:${listen.port}\n`));
  process.on('SIGTERM', () => process.exit(0));
}

function connect(to: { host: string; port: number }, request: Request): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(to, () => {
      socket.setNoDelay(true);
      socket.write(JSON.stringify(request) + '\n');
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

async function ping(to: { host: string; port: number }, count: number): Promise<number> {
  const socket = await connect(to, { mode: 'ping' });
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write('p');
    });
    times.push(performance.now() - started);
  }
  socket.destroy();
  // The smallest round trip is the link's own; larger ones waited behind other traffic.
  return Math.min(...times);
}

async function up(to: { host: string; port: number }, bytes: number): Promise<number> {
  const socket = await connect(to, { mode: 'up', bytes });
  const reply = new Promise<string>((resolve, reject) => {
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
  send(socket, bytes);
  const result = JSON.parse(await reply) as { bytes: number; ms: number };
  return (result.bytes * 8) / 1000 / result.ms;
}

async function down(to: { host: string; port: number }, bytes: number): Promise<number> {
  const socket = await connect(to, { mode: 'down', bytes });
  const result = await receive(socket, bytes, Buffer.alloc(0));
  socket.destroy();
  return (result.bytes * 8) / 1000 / result.ms;
}

async function main(): Promise<void> {
  const [command, ...argv] = process.argv.slice(2);
  const arg = (flag: string) => argv[argv.indexOf(flag) + 1];
  if (command === 'serve') return serve(hostPort(arg('--listen'), '--listen'));
  if (command !== 'measure') throw new Error('usage: link-probe serve --listen h:p | measure --connect h:p …');
  const to = hostPort(arg('--connect'), '--connect');
  const rttMs = await ping(to, 15);
  const upMbps = await up(to, Number(arg('--up-bytes') ?? 1_000_000));
  const downMbps = await down(to, Number(arg('--down-bytes') ?? 1_000_000));
  process.stdout.write(JSON.stringify({ rttMs, upMbps, downMbps }) + '\n');
  process.exit(0);
}

main().catch((err: Error) => {
  process.stderr.write(`link probe: ${err.message}\n`);
  process.exit(1);
});
