/**
 * A site engine's copy of the cloud's workflow registry: what to fetch and what to drop so
 * the copy holds exactly the hub's keys. Stored versions never change (a changed definition
 * is a new version, a deletion purges its keys), so comparing keys is enough.
 */
export interface RegistrySyncPlan {
  /** Keys the hub has and the copy does not: fetched and stored at the site. */
  fetch: string[];
  /** Keys the copy has and the hub no longer does: deleted in the cloud meanwhile. */
  drop: string[];
}

export function registrySyncPlan(copy: Iterable<string>, hub: Iterable<string>): RegistrySyncPlan {
  const have = new Set(copy);
  const want = new Set(hub);
  return {
    fetch: [...want].filter((key) => !have.has(key)).sort(),
    drop: [...have].filter((key) => !want.has(key)).sort(),
  };
}
