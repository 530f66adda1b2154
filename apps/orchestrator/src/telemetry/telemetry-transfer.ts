import {
  assertToken,
  telemetryRawSubject,
  type StoredReading,
  type TelemetryTransferRequest,
} from '@yunbian/contracts';

/** One message of a site's raw telemetry stream, as read back. */
export interface RawTelemetryMessage {
  seq: number;
  subject: string;
  reading: StoredReading;
}

/** One reading to move: its sequence at the site it leaves, and what is published at the new one. */
export interface TransferItem {
  fromSeq: number;
  subject: string;
  reading: StoredReading;
}

/**
 * Problems with a transfer request (empty: none), each saying what is accepted: the user and
 * both sites are names that fit a NATS subject token, the sites differ, and both are sites of
 * nodes in the catalogue (`knownSites`) — so edge-private data cannot be sent to the hub's
 * domain or anywhere else that is no edge site.
 */
export function transferProblems(user: string, body: TelemetryTransferRequest, knownSites: string[]): string[] {
  const problems: string[] = [];
  for (const [what, value] of [
    ['site "from"', body.from],
    ['site "to"', body.to],
  ] as const) {
    try {
      assertToken(value, what);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (!user || user.length > 128) problems.push('the user must be 1 to 128 characters');
  if (body.from === body.to) problems.push(`"from" and "to" are both "${body.from}": name two different sites`);
  for (const [what, site] of [
    ['from', body.from],
    ['to', body.to],
  ] as const) {
    if (!knownSites.includes(site))
      problems.push(
        `"${what}": "${site}" is no site of a node in the catalogue (sites: ${knownSites.join(', ') || 'none'})`,
      );
  }
  return problems;
}

/**
 * Exactly the readings a transfer moves: the edge-private readings of `user` stored at site
 * `from` (public readings are no one's to move and user-private ones never leave their node),
 * in stream order, each re-addressed to the same sensor's edge-private subject at `to`.
 */
export function selectTransfer(
  messages: RawTelemetryMessage[],
  user: string,
  from: string,
  to: string,
): TransferItem[] {
  return messages
    .filter((m) => m.reading.tier === 'edge-private' && m.reading.user === user && m.reading.site === from)
    .filter((m) => m.subject === telemetryRawSubject(from, 'edge-private', m.reading.sensor))
    .sort((a, b) => a.seq - b.seq)
    .map((m) => ({
      fromSeq: m.seq,
      subject: telemetryRawSubject(to, 'edge-private', m.reading.sensor),
      reading: { ...m.reading, site: to },
    }));
}
