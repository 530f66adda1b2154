/**
 * The delay proxy of one site's uplink: a user-space TCP relay (the kernel here has no
 * netem) that holds every chunk for half the link's round trip in each direction. It runs
 * inside the site's namespace; the site's NATS leaf node (and the link probe) connect to
 * its local ports, and it dials the far end across the shaped veth.
 *
 *   node delay-proxy.js --route 127.0.0.1:7420=10.231.1.1:7422 [--route …] --delay-ms 20 --control /tmp/x.sock
 *
 * The control socket (a Unix socket: reachable from the host whatever the namespace)
 * takes one JSON object a line: `{"delayMs": 30}` sets the one-way delay, `{}` reads it;
 * each answers `{"ok": true, "delayMs": …}` or `{"ok": false, "error": "…"}`.
 */
import net from 'node:net';
import { rmSync } from 'node:fs';
import { DelayLine } from './delay-line';

interface Route {
  listenHost: string;
  listenPort: number;
  targetHost: string;
  targetPort: number;
}

const CONNECT_TIMEOUT_MS = 5_000;
const END = Symbol('end');

function parseArgs(argv: string[]): { routes: Route[]; delayMs: number; control?: string } {
  const routes: Route[] = [];
  let delayMs = 0;
  let control: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--route': {
        const m = /^([\d.]+):(\d+)=([\d.]+):(\d+)$/.exec(value ?? '');
        if (!m) throw new Error(`--route must be host:port=host:port (got "${value}")`);
        routes.push({ listenHost: m[1], listenPort: Number(m[2]), targetHost: m[3], targetPort: Number(m[4]) });
        i++;
        break;
      }
      case '--delay-ms':
        delayMs = Number(value);
        DelayLine.check(delayMs);
        i++;
        break;
      case '--control':
        control = value;
        i++;
        break;
      default:
        throw new Error(`unknown argument "${argv[i]}"; accepted: --route, --delay-ms, --control`);
    }
  }
  if (routes.length === 0) throw new Error('at least one --route is required');
  return { routes, delayMs, control };
}

const lines = new Set<DelayLine<Buffer | typeof END>>();
let delayMs = 0;

/** Relays `from` to `to` through a delay line; ends `to` once everything before `from`'s end is out. */
function pipeDelayed(from: net.Socket, to: net.Socket): void {
  const line = new DelayLine<Buffer | typeof END>(delayMs);
  lines.add(line);
  let timer: NodeJS.Timeout | undefined;
  let paused = false;
  const flush = () => {
    timer = undefined;
    for (const item of line.take(performance.now())) {
      if (item === END) {
        to.end();
        lines.delete(line);
        return;
      }
      if (!to.write(item) && !paused) {
        // The far side is slower than the delay line fills: stop reading until it drains.
        paused = true;
        from.pause();
        to.once('drain', () => {
          paused = false;
          from.resume();
        });
      }
    }
    schedule();
  };
  const schedule = () => {
    const due = line.nextDue();
    if (due === undefined || timer) return;
    timer = setTimeout(flush, Math.max(0, due - performance.now()));
  };
  from.on('data', (chunk: Buffer) => {
    line.push(chunk, performance.now());
    schedule();
  });
  from.on('end', () => {
    line.push(END, performance.now());
    schedule();
  });
  from.on('close', () => {
    if (line.length === 0) lines.delete(line);
  });
}

function serve(route: Route): net.Server {
  // Half-open sockets: a FIN from one side must wait in the delay line behind the data sent
  // before it, instead of Node ending the other direction at once.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ host: route.targetHost, port: route.targetPort, allowHalfOpen: true });
    upstream.setNoDelay(true);
    upstream.setTimeout(CONNECT_TIMEOUT_MS, () => upstream.destroy(new Error('connect timed out')));
    upstream.once('connect', () => upstream.setTimeout(0));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    // An error tears both down at once; a clean end travels through the delay line like
    // the data before it (pipeDelayed ends the other side once that data is out).
    client.on('error', close);
    upstream.on('error', close);
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  server.on('error', (err) => {
    process.stderr.write(`delay proxy ${route.listenHost}:${route.listenPort}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(route.listenPort, route.listenHost, () =>
    process.stdout.write(
      `delay proxy ${route.listenHost}:${route.listenPort} -> ${route.targetHost}:${route.targetPort} (${delayMs} ms each way)\n`,
    ),
  );
  return server;
}

function controlServer(file: string): net.Server {
  rmSync(file, { force: true });
  return net
    .createServer((socket) => {
      let buffered = '';
      socket.on('data', (chunk) => {
        buffered += chunk.toString();
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const text = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          try {
            const request = JSON.parse(text) as { delayMs?: number };
            if (request.delayMs !== undefined) {
              DelayLine.check(request.delayMs);
              delayMs = request.delayMs;
              for (const line of lines) line.delay = delayMs;
              process.stdout.write(`delay now ${delayMs} ms each way\n`);
            }
            socket.write(JSON.stringify({ ok: true, delayMs }) + '\n');
          } catch (err) {
            socket.write(JSON.stringify({ ok: false, error: (err as Error).message }) + '\n');
          }
        }
      });
      socket.on('error', () => socket.destroy());
    })
    .listen(file);
}

function main(): void {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`delay proxy: ${(err as Error).message}\n`);
    process.exit(2);
  }
  delayMs = args.delayMs;
  const servers = args.routes.map(serve);
  const control = args.control ? controlServer(args.control) : undefined;
  const stop = () => {
    for (const s of servers) s.close();
    control?.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
