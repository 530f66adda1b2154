import type { EngineAnnouncement } from '@yunbian/contracts';
import type { NatsTransport } from '@yunbian/transport';
import { loadEngineConfig } from '../engine-config';
import { EnginesService } from './engines.service';

/** A transport that records what is published and hands subscriptions' callbacks back. */
function fakeTransport() {
  const published: { subject: string; value: unknown }[] = [];
  const handlers = new Map<string, (value: unknown) => void>();
  const connection: ((state: 'lost' | 'back') => void)[] = [];
  const transport = {
    publish: (subject: string, value: unknown) => published.push({ subject, value }),
    subscribe: (subject: string, handler: (value: unknown) => void) => {
      handlers.set(subject, handler);
      return { unsubscribe: () => handlers.delete(subject) };
    },
    onConnection: (listener: (state: 'lost' | 'back') => void) => connection.push(listener),
  } as unknown as NatsTransport;
  /** This process's own NATS connection going away or coming back. */
  const connectionIs = (state: 'lost' | 'back') => connection.forEach((listener) => listener(state));
  return { transport, published, handlers, connectionIs };
}

const site = (id: string, extra: Partial<EngineAnnouncement> = {}): EngineAnnouncement => ({
  id,
  kind: 'site',
  site: id.replace(/^site-/, ''),
  domain: id.replace(/^site-/, ''),
  startedAt: '2026-01-01T00:00:00.000Z',
  at: '2026-01-01T00:00:00.000Z',
  running: 0,
  intervalMs: 1_000,
  ...extra,
});

describe('EnginesService', () => {
  let service: EnginesService;
  let fake: ReturnType<typeof fakeTransport>;

  beforeEach(() => {
    fake = fakeTransport();
    service = new EnginesService(fake.transport, loadEngineConfig({ YUNBIAN_ENGINE_ANNOUNCE_MS: '60000' }));
    service.countRunningWith(() => 7);
    service.onApplicationBootstrap();
  });

  afterEach(() => service.onApplicationShutdown());

  it('announces itself at once (kind, site, running) and lists itself', () => {
    expect(fake.published[0]).toEqual({
      subject: 'yb.evt.engine.cloud-cloud.heartbeat',
      value: expect.objectContaining({
        id: 'cloud-cloud',
        kind: 'cloud',
        site: 'cloud',
        running: 7,
        intervalMs: 60_000,
      }),
    });
    expect(service.list()).toEqual([expect.objectContaining({ id: 'cloud-cloud', self: true })]);
  });

  it('keeps the engines that announce, finds a site’s engine, and loses one silent for 3 intervals once', () => {
    const lost: string[] = [];
    service.onEngineLost((engine, reason) => lost.push(`${engine.id}: ${reason}`));
    service.onAnnouncement(site('site-factory-sz'));
    expect(service.siteEngine('factory-sz')).toMatchObject({ id: 'site-factory-sz', domain: 'factory-sz' });
    expect(service.siteEngine('store-hz')).toBeUndefined();
    expect(service.others().map((e) => e.id)).toEqual(['site-factory-sz']);

    service.sweep(Date.now() + 2_500);
    expect(lost).toEqual([]);
    service.sweep(Date.now() + 3_500);
    service.sweep(Date.now() + 9_000);
    expect(lost).toEqual([
      expect.stringMatching(/^site-factory-sz: its announcements stopped 3\.\d s ago \(it announces every 1 s\)$/),
    ]);
    expect(service.siteEngine('factory-sz')).toBeUndefined();
    // What is left of it: when it was last heard from and why it is gone.
    expect(service.live('site-factory-sz')).toBeUndefined();
    expect(service.silent('site-factory-sz', Date.now() + 10_000)).toMatchObject({
      id: 'site-factory-sz',
      silentMs: expect.any(Number),
      reason: expect.stringMatching(/^its announcements stopped/),
    });
    expect(service.silent('site-factory-sz', Date.now() + 10_000).silentMs).toBeGreaterThanOrEqual(10_000);
    expect(service.silent('never-seen')).toEqual({ id: 'never-seen' });
    // Back again: live, and no longer silent.
    service.onAnnouncement(site('site-factory-sz'));
    expect(service.live('site-factory-sz')).toMatchObject({ id: 'site-factory-sz' });
    expect(service.silent('site-factory-sz')).toEqual({ id: 'site-factory-sz' });
  });

  it('counts no engine lost while its own NATS connection is down, and gives each a fresh interval once it is back', () => {
    const lost: string[] = [];
    service.onEngineLost((engine) => lost.push(engine.id));
    const t0 = Date.now();
    service.onAnnouncement(site('site-a'));
    service.onAnnouncement(site('site-b'));
    fake.connectionIs('lost');
    // 60 s of silence while this process was cut off from NATS: nobody is lost for it.
    service.sweep(t0 + 60_000);
    expect(lost).toEqual([]);
    expect(service.others().map((e) => e.id)).toEqual(['site-a', 'site-b']);
    // Back at t0 + 60 s: each gets a fresh 3 intervals (3 s) before its silence counts again.
    fake.connectionIs('back');
    service.connectionBack(t0 + 60_000);
    service.sweep(t0 + 62_500);
    expect(lost).toEqual([]);
    service.sweep(t0 + 63_500);
    expect(lost).toEqual(['site-a', 'site-b']);
    expect(service.others()).toEqual([]);
  });

  it('still loses an engine that leaves while the connection is down (its leaving was heard)', () => {
    const lost: string[] = [];
    service.onEngineLost((engine) => lost.push(engine.id));
    service.onAnnouncement(site('site-a'));
    service.connectionLost();
    service.onLeaving({ id: 'site-a', at: '' });
    expect(lost).toEqual(['site-a']);
  });

  it('without an outage, silence counts as before', () => {
    const lost: string[] = [];
    service.onEngineLost((engine) => lost.push(engine.id));
    service.onAnnouncement(site('site-a'));
    service.connectionBack(Date.now());
    service.sweep(Date.now() + 60_000);
    expect(lost).toEqual(['site-a']);
  });

  it('loses an engine that leaves at once, and says goodbye itself on shutdown', () => {
    const lost: string[] = [];
    service.onEngineLost((engine, reason) => lost.push(`${engine.id}: ${reason}`));
    service.onAnnouncement(site('site-a'));
    service.onLeaving({ id: 'site-a', at: '' });
    expect(lost).toEqual(['site-a: it left (clean shutdown)']);
    service.onApplicationShutdown();
    expect(fake.published.at(-1)).toEqual({
      subject: 'yb.evt.engine.cloud-cloud.leaving',
      value: expect.objectContaining({ id: 'cloud-cloud' }),
    });
  });
});
