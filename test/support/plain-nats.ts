import type { TestNats } from './cluster';

/**
 * The connection options a service written against plain NATS (no Yunbian code) gets, as
 * JSON-serialisable `connect()` options plus `credsFile`, the NATS credentials file it
 * authenticates with (the test run's, `YUNBIAN_NATS_CREDS`; every server here is in operator mode).
 */
export function plainNatsConnectOptions(nats: TestNats): { servers: string[]; credsFile?: string } {
  return { servers: nats.url.split(','), credsFile: process.env.YUNBIAN_NATS_CREDS };
}
