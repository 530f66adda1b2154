/**
 * The running testbed's control surface: a small REST API on 127.0.0.1 and the same
 * commands as lines on stdin.
 *
 *   GET  /links                    every link: site, uplink, upMbps, downMbps, rttMs, lossPercent, cut
 *   PUT  /links/{site}             { upMbps?, downMbps?, rttMs?, lossPercent? } → the link after the change
 *   POST /links/{site}/cut         partition the site from its uplink
 *   POST /links/{site}/restore     undo the cut
 *   POST /links/{site}/measure     raw TCP round trip and throughput through the shaped path
 *   GET  /processes                supervised processes: name, pid, running, restarts
 *   GET  /summary                  the links as the agents measure them (lines of text)
 *
 * Lines: `link <site> [up=<Mbit/s>] [down=<Mbit/s>] [rtt=<ms>] [loss=<%>]`, `cut <site>`,
 * `restore <site>`, `measure <site>`, `links`, `ps`, `summary`, `help`, `quit`.
 */
import http from 'node:http';
import type { LinkShape } from './topology';
import type { Testbed } from './testbed';
import { describeLink } from './testbed';

export const LINE_HELP = [
  'commands:',
  '  link <site> [up=<Mbit/s>] [down=<Mbit/s>] [rtt=<ms>] [loss=<%>]   change a link',
  '  cut <site> | restore <site>                                          partition / heal a link',
  '  measure <site>                                                        raw TCP RTT and throughput of a link',
  '  links | ps | summary | help | quit',
].join('\n');

const LINE_FIELDS: Record<string, keyof LinkShape> = {
  up: 'upMbps',
  down: 'downMbps',
  rtt: 'rttMs',
  loss: 'lossPercent',
};

/** Parses `up=100 down=50 rtt=10 loss=1` into a link change; throws naming the bad word. */
export function parseLinkChange(words: string[]): Partial<LinkShape> {
  const change: Partial<LinkShape> = {};
  for (const word of words) {
    const m = /^(\w+)=(.+)$/.exec(word);
    const field = m ? LINE_FIELDS[m[1]] : undefined;
    if (!m || !field) throw new Error(`"${word}" is not a link setting; use up=, down=, rtt= or loss= (e.g. up=100)`);
    const value = Number(m[2]);
    if (!Number.isFinite(value)) throw new Error(`${m[1]} must be a number (got "${m[2]}")`);
    change[field] = value;
  }
  if (Object.keys(change).length === 0) throw new Error('nothing to change; e.g. `link factory-sz up=100 rtt=10`');
  return change;
}

/** Runs one control line; returns what to print. */
export async function runLine(bed: Testbed, line: string): Promise<string> {
  const [command, site, ...rest] = line.trim().split(/\s+/);
  switch (command) {
    case undefined:
    case '':
      return '';
    case 'link':
      return `link ${site}: ${describeLink(await bed.setLink(need(site), parseLinkChange(rest)))}`;
    case 'cut':
      await bed.cut(need(site));
      return `link ${site}: cut`;
    case 'restore':
      await bed.restore(need(site));
      return `link ${site}: restored`;
    case 'measure': {
      const m = await bed.measureLink(need(site));
      return `link ${site}: RTT ${m.rttMs.toFixed(1)} ms, up ${m.upMbps.toFixed(2)} Mbit/s, down ${m.downMbps.toFixed(2)} Mbit/s (raw TCP)`;
    }
    case 'links':
      return bed
        .linkStates()
        .map((l) => `${l.site} → ${l.uplink}: ${describeLink(l)}`)
        .join('\n');
    case 'ps':
      return bed
        .processes()
        .map(
          (p) =>
            `${p.name.padEnd(24)} pid ${String(p.pid ?? '-').padEnd(8)} ${p.running ? 'running' : 'down'} restarts ${p.restarts}`,
        )
        .join('\n');
    case 'summary':
      return (await bed.summary()).join('\n');
    case 'help':
      return LINE_HELP;
    default:
      throw new Error(`unknown command "${command}"\n${LINE_HELP}`);
  }
}

function need(site: string | undefined): string {
  if (!site) throw new Error('which site? e.g. `cut factory-sz`');
  return site;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += (chunk as Buffer).toString();
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw Object.assign(new Error(`body is not JSON: ${(err as Error).message}`), { status: 400 });
  }
}

/** Starts the control REST API on 127.0.0.1:`port`. */
export function startControlServer(bed: Testbed, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      try {
        if (req.method === 'GET' && url.pathname === '/links') return send(200, bed.linkStates());
        if (req.method === 'GET' && url.pathname === '/processes') return send(200, bed.processes());
        if (req.method === 'GET' && url.pathname === '/summary') return send(200, await bed.summary());
        if (parts[0] === 'links' && parts.length === 2 && (req.method === 'PUT' || req.method === 'PATCH')) {
          return send(200, await bed.setLink(parts[1], (await readJson(req)) as Partial<LinkShape>));
        }
        if (parts[0] === 'links' && parts.length === 3 && req.method === 'POST') {
          if (parts[2] === 'cut') await bed.cut(parts[1]);
          else if (parts[2] === 'restore') await bed.restore(parts[1]);
          else if (parts[2] === 'measure') return send(200, await bed.measureLink(parts[1]));
          else return send(404, { message: `unknown action "${parts[2]}"; use cut, restore or measure` });
          return send(
            200,
            bed.linkStates().find((l) => l.site === parts[1]),
          );
        }
        send(404, {
          message: `no route ${req.method} ${url.pathname}; routes: GET /links, PUT /links/{site}, POST /links/{site}/cut|restore|measure, GET /processes, GET /summary`,
        });
      } catch (err) {
        const status =
          (err as { status?: number }).status ??
          (/no uplink|unknown link field|must be/.test((err as Error).message) ? 400 : 500);
        send(status, { message: (err as Error).message });
      }
    })();
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `control port ${port} on 127.0.0.1 is taken; set YUNBIAN_TESTBED_CONTROL_PORT to a free one`
            : err.message,
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
