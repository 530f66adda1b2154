/** Child process of scanServiceLibrary: loads every service file and sends the descriptors back. */
import 'reflect-metadata';
import { loadServiceLibrary } from '@yunbian/service-sdk';
import type { ScanReply } from './service-library-scan';

let reply: ScanReply;
try {
  const services = [...loadServiceLibrary().values()].map((e) => ({ descriptor: e.descriptor, file: e.file }));
  reply = { ok: true, services };
} catch (err) {
  reply = { ok: false, error: (err as Error).message };
}
process.send?.(reply, () => process.exit(0));
