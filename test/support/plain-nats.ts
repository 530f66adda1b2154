import type { TestNats } from './cluster';

/**
 * The connection options a service written against plain NATS (no Yunbian code) gets, as
 * JSON-serialisable `connect()` options: the one place to add credentials once the bus asks
 * for them (`user`/`pass`, `token`).
 */
export function plainNatsConnectOptions(nats: TestNats): { servers: string[] } {
  return { servers: nats.url.split(',') };
}
