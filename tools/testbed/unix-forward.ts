/**
 * Loopback forwarders between the host and a namespace. A filesystem Unix socket is
 * reachable from every network namespace, so the testbed runs this file inside the cloud
 * namespace (Unix socket → the orchestrator's 127.0.0.1 port there) and calls
 * `forwardTcpToUnix` on the host (127.0.0.1:PORT → that socket). Nothing else of the
 * testbed's network is visible from the host.
 *
 *   node unix-forward.js --unix /tmp/yb-testbed-x/orchestrator.sock --to 127.0.0.1:3000
 */
import net from 'node:net';
import { rmSync } from 'node:fs';

function relay(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

/** Host side: listens on 127.0.0.1:`port` and relays each connection to the Unix socket. */
export function forwardTcpToUnix(port: number, socketPath: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((client) => relay(client, net.connect(socketPath)));
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} on 127.0.0.1 is taken; set PORT to a free one`
            : `cannot listen on 127.0.0.1:${port}: ${err.message}`,
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function main(): void {
  const argv = process.argv.slice(2);
  const unix = argv[argv.indexOf('--unix') + 1];
  const to = /^([\d.]+):(\d+)$/.exec(argv[argv.indexOf('--to') + 1] ?? '');
  if (!argv.includes('--unix') || !unix || !to) {
    process.stderr.write('usage: unix-forward --unix <socket path> --to <host>:<port>\n');
    process.exit(2);
  }
  rmSync(unix, { force: true });
  const server = net
    .createServer((client) => relay(client, net.connect({ host: to[1], port: Number(to[2]) })))
    .listen(unix, () => process.stdout.write(`forwarding ${unix} -> ${to[1]}:${to[2]}\n`));
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();
