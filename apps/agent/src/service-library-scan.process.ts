/** Child process of scanServiceLibrary: loads every service file and sends the descriptors and problems back. */
import 'reflect-metadata';
import { scanServiceDirectories } from '@yunbian/service-sdk';
import type { ScanReply } from './service-library-scan';

let reply: ScanReply;
try {
  const { library, problems } = scanServiceDirectories();
  const services = [...library.values()].map((e) => ({ descriptor: e.descriptor, file: e.file }));
  reply = { ok: true, services, problems };
} catch (err) {
  reply = { ok: false, error: (err as Error).message };
}
process.send?.(reply, () => process.exit(0));
