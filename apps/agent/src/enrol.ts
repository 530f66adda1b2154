import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EnrolReply } from '@yunbian/contracts';
import { NATS_CREDENTIALS_VARIABLE } from '@yunbian/transport';

export interface EnrolmentSettings {
  /** `YUNBIAN_ENROLMENT_TOKEN`: a single-use token an admin issued for this node. */
  token?: string;
  /** `YUNBIAN_NODE_JOIN_TOKEN`: the orchestrator's shared join token (instead of a single-use one). */
  joinToken?: string;
  /** `YUNBIAN_ORCHESTRATOR_URL`: where to trade it (the cloud orchestrator's REST API). */
  orchestratorUrl: string;
  /** `YUNBIAN_NATS_CREDS`: where the node's credentials are (or are to be kept). */
  credentialsFile?: string;
}

/** Where an enrolled node keeps its credentials when `YUNBIAN_NATS_CREDS` does not say. */
export function defaultCredentialsFile(nodeId: string): string {
  return path.join(os.tmpdir(), `yunbian-node-${nodeId}.creds`);
}

/**
 * The node's NATS credentials file: with an enrolment (or join) token, the file it was saved to (traded
 * for the credentials once, at the first start: tokens are single-use, later starts reuse the
 * file); else `YUNBIAN_NATS_CREDS` as given (or none). Sets `YUNBIAN_NATS_CREDS` for this process
 * and the workers it starts. Errors say what the orchestrator answered.
 */
export async function nodeCredentialsFile(
  settings: EnrolmentSettings,
  node: { id: string; site: string },
  services: string[],
  say: (message: string, fields?: Record<string, unknown>) => void,
): Promise<string | undefined> {
  if (!settings.token && !settings.joinToken) return settings.credentialsFile;
  const file = settings.credentialsFile || defaultCredentialsFile(node.id);
  if (existsSync(file)) {
    say('enrolled before: using the saved NATS credentials', { file });
  } else {
    const url = `${settings.orchestratorUrl.replace(/\/$/, '')}/nodes/enrol`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          settings.token
            ? { token: settings.token, services }
            : { joinToken: settings.joinToken, nodeId: node.id, site: node.site, services },
        ),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new Error(
        `cannot enrol at ${url}: ${(err as Error).message}. Is YUNBIAN_ORCHESTRATOR_URL the cloud orchestrator's address?`,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new Error(`enrolment refused (HTTP ${response.status}): ${message}`);
    }
    const reply = JSON.parse(text) as EnrolReply;
    if (reply.nodeId !== node.id || reply.site !== node.site) {
      throw new Error(
        `the enrolment token is for node ${reply.nodeId} at site ${reply.site}, but this node is ${node.id} at ${node.site}: use the token issued for this node`,
      );
    }
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, reply.credentials, { mode: 0o600 });
    chmodSync(file, 0o600);
    say('enrolled: NATS credentials saved', { file, userKey: reply.userKey });
  }
  process.env[NATS_CREDENTIALS_VARIABLE] = file;
  return file;
}
