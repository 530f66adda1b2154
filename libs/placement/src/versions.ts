import semver from 'semver';
import { serviceRef, type ServiceDescriptor } from '@yunbian/contracts';
import type { StepPlacementRequest } from './types';

/** A parsed semver range (a `semver.Range`): parse once, test many versions. */
export interface VersionRange {
  test(version: string): boolean;
}

const NOTHING: VersionRange = Object.freeze({ test: () => false });

/** The range `text` (`^1`, `1.2.0`, `*`); as `semver.satisfies`, one that does not parse matches nothing. */
export function versionRange(text: string): VersionRange {
  return semver.validRange(text) === null ? NOTHING : new semver.Range(text);
}

/** The descriptors whose version `range` accepts, newest first. */
export function matchingVersions<T extends Pick<ServiceDescriptor, 'version'>>(
  descriptors: readonly T[],
  range: VersionRange,
): T[] {
  return descriptors.filter((d) => range.test(d.version)).sort((a, b) => semver.rcompare(a.version, b.version));
}

/**
 * The service part of a step's placement request when its range matched `versions` (newest
 * first, as `matchingVersions` gives them, at least one): the newest is the step's `service`,
 * and every version is listed with its own requirements, so each candidate (whose `service`
 * names its version, as `candidatesFromCatalog` writes it) is held to its version's
 * requirements and estimated with its version's compute profile.
 */
export function versionedService(
  versions: readonly Pick<ServiceDescriptor, 'name' | 'version' | 'requirements'>[],
): Pick<StepPlacementRequest, 'service' | 'requirements' | 'versions'> {
  if (versions.length === 0) throw new Error('versionedService needs at least one version');
  const [newest] = versions;
  return {
    service: serviceRef(newest),
    requirements: newest.requirements,
    versions:
      versions.length > 1 ? versions.map((v) => ({ service: serviceRef(v), requirements: v.requirements })) : undefined,
  };
}
