import { fork } from 'node:child_process';
import path from 'node:path';
import type { ServiceDescriptor, ServiceLibraryProblem } from '@yunbian/contracts';

export interface ScannedService {
  descriptor: ServiceDescriptor;
  /** The file defining it, handed to the worker that hosts it. */
  file: string;
}

export interface ScannedLibrary {
  services: ScannedService[];
  /** Files and directories not served, and why (one bad file does not hide the others). */
  problems: ServiceLibraryProblem[];
}

export type ScanReply = ({ ok: true } & ScannedLibrary) | { ok: false; error: string };

const SCAN_SCRIPT = path.join(__dirname, 'service-library-scan.process.js');

/**
 * The node's service library (the bundled services and YUNBIAN_SERVICE_PATH), read in a
 * short-lived child process: listing the services means loading every service file, and
 * with it whatever those files import (Nest, image and inference libraries…), which the
 * agent itself never uses. The memory goes back to the system when the child exits.
 */
export function scanServiceLibrary(
  env: NodeJS.ProcessEnv = process.env,
  script = SCAN_SCRIPT,
): Promise<ScannedLibrary> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [], { env, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let reply: ScanReply | undefined;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString();
    });
    child.on('message', (message: ScanReply) => (reply = message));
    child.on('error', (err) => reject(new Error(`could not read the service library: ${err.message}`)));
    child.on('exit', (code, signal) => {
      if (reply?.ok) return resolve({ services: reply.services, problems: reply.problems });
      if (reply) return reject(new Error(reply.error));
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new Error(`reading the service library failed: the process ${how}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}
