import type { InstanceRecord, NodeRecord, ServiceDescriptor } from '@yunbian/contracts';
import { catalogCopyEntries, catalogFingerprint, snapshotFromCopy } from './site-catalog-copy';

const node = {
  id: 'edge-box',
  site: 'factory-sz',
  status: 'alive',
  lastHeartbeatAt: '2025-01-01T00:00:00.000Z',
  load: { cpuPercent: 12 },
  rtt: { orchestratorMs: 40, sites: { cloud: { ms: 41 } } },
} as unknown as NodeRecord;
const instance = { id: 'i-1', nodeId: 'edge-box', service: 'echo', version: '1.0.0', inFlight: 2 } as InstanceRecord;
const service = { name: 'echo', version: '1.0.0' } as ServiceDescriptor;

describe('site catalogue copy', () => {
  it('keys entries as the cloud store does and reads them back into the same snapshot', () => {
    const entries = catalogCopyEntries({ nodes: [node], instances: [instance], services: [service] });
    expect([...entries.keys()]).toEqual(['node.edge-box', 'instance.i-1', 'service.echo.1_0_0']);
    const back = snapshotFromCopy(new Map([...entries, ['other', 1]]));
    expect(back).toEqual({ nodes: [node], instances: [instance], services: [service] });
  });

  it('writes an entry again when a figure placement reads changed, not for a heartbeat time or a load', () => {
    const later = { ...node, lastHeartbeatAt: '2025-01-01T00:00:05.000Z', load: { cpuPercent: 80 } };
    expect(catalogFingerprint(later)).toBe(catalogFingerprint(node));
    const slower = { ...node, rtt: { orchestratorMs: 90, sites: {} } };
    expect(catalogFingerprint(slower)).not.toBe(catalogFingerprint(node));
    expect(catalogFingerprint({ ...instance, inFlight: 0 })).toBe(catalogFingerprint(instance));
    expect(catalogFingerprint({ ...instance, status: 'failed' })).not.toBe(catalogFingerprint(instance));
  });
});
