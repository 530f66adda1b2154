import type { CatalogChange } from './catalog.service';

/** How often `GET /events` sends what changed (changes of one record in between are sent once). */
export const CATALOG_EVENTS_FLUSH_MS = 500;
export const CATALOG_EVENTS_KEEPALIVE_MS = 15_000;

/**
 * Changes gathered between two sends: one entry per record (the last change wins — a node that
 * heartbeats ten times is sent once, as it is then), in the order they first changed.
 */
export class ChangeBatch {
  private readonly pending = new Map<string, CatalogChange>();

  add(change: CatalogChange): void {
    const key = `${change.kind}:${change.id}`;
    // Re-inserting keeps the first position; the latest change (removed or not) is kept.
    this.pending.set(key, change);
  }

  /** Everything gathered, emptied. */
  take(): CatalogChange[] {
    const all = [...this.pending.values()];
    this.pending.clear();
    return all;
  }

  get size(): number {
    return this.pending.size;
  }
}
