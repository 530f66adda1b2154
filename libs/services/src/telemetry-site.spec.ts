import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { LocalNatsServer, resolverConfig } from '@yunbian/common';
import { telemetryRawSubject, telemetryStream } from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';
import { ensureRawStream, purgeExpired, siteJetStream, type SiteJetStream } from './telemetry-site';

const SITE = 'site-x';

describe('telemetry at a site (a real nats-server with the site’s JetStream domain)', () => {
  let server: LocalNatsServer;
  let transport: NatsTransport;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-telemetry-'));
    const conf = path.join(dir, 'site.conf');
    writeFileSync(
      conf,
      `include ./trust/server-auth.conf\n${resolverConfig(path.join(dir, 'jwt'))}\njetstream { domain: ${SITE} }\n`,
    );
    server = await LocalNatsServer.start({ args: ['-c', conf] });
    transport = await NatsTransport.connect({ servers: server.url, name: 'telemetry site spec' });
  });

  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  it('takes the site from the JetStream domain of the server, and refuses the domain it reaches as the hub’s', async () => {
    const site = await siteJetStream(transport, 'telemetry-ingest');
    expect(site.site).toBe(SITE);
    const asHub = await NatsTransport.connect({ servers: server.url, name: 'as hub', jetStreamDomain: SITE });
    try {
      await expect(siteJetStream(asHub, 'telemetry-ingest')).rejects.toMatchObject({
        code: 'UNSATISFIABLE',
        message: expect.stringMatching(/run it on a node connected to its site's leaf node/),
      });
    } finally {
      await asHub.close();
    }
  });

  it('purges a shorter-lived tier’s readings older than its max age, and nothing else', async () => {
    const nc = transport.connection;
    const site: SiteJetStream = {
      site: SITE,
      js: jetstream(nc, { domain: SITE }),
      jsm: await jetstreamManager(nc, { domain: SITE }),
    };
    const stream = await ensureRawStream(site);
    expect(stream).toBe(telemetryStream(SITE));
    const put = (tier: 'user-private' | 'edge-private', value: number) =>
      site.js.publish(telemetryRawSubject(SITE, tier, 'hr'), JSON.stringify({ sensor: 'hr', value }));
    await put('user-private', 1);
    await put('user-private', 2);
    await put('edge-private', 3);
    // Server timestamps: a clear gap between the old readings and the new one.
    await new Promise((r) => setTimeout(r, 400));
    const between = Date.now() - 200;
    await put('user-private', 4);

    // user-private kept 1 s: "now" is 1 s after the gap, so the cutoff falls inside it.
    const purged = await purgeExpired(site, new Date(between + 1_000), {
      public: 100,
      'edge-private': 100,
      'user-private': 1,
    });
    expect(purged).toEqual({ 'user-private': 2 });
    const left: number[] = [];
    const { state } = await site.jsm.streams.info(stream);
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const m = await site.jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m) left.push(m.json<{ value: number }>().value);
    }
    expect(left).toEqual([3, 4]);
  });
});
