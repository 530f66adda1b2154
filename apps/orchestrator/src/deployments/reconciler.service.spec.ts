import type { NatsTransport } from '@yunbian/transport';
import type { CatalogService } from '../catalog/catalog.service';
import type { DeploymentService } from '../catalog/deployment.service';
import type { ReplicaService } from '../replicas/replicas.service';
import type { DeploymentsService } from './deployments.service';
import { ReconcilerService } from './reconciler.service';

describe('ReconcilerService', () => {
  it('never reconciles in a site-mode orchestrator: no subscriptions, no timer, no passes', async () => {
    const subscribe = jest.fn();
    const listNodes = jest.fn(() => []);
    const reconciler = new ReconcilerService(
      { listNodes } as unknown as CatalogService,
      {} as DeploymentService,
      { engine: { mode: 'site', site: 'factory-sz', id: 'site-factory-sz' } } as unknown as DeploymentsService,
      { subscribe } as unknown as NatsTransport,
      { decides: () => true } as unknown as ReplicaService,
    );
    reconciler.onApplicationBootstrap();
    await expect(reconciler.reconcile()).resolves.toEqual([]);
    expect(subscribe).not.toHaveBeenCalled();
    expect(listNodes).not.toHaveBeenCalled();
    reconciler.onApplicationShutdown();
  });

  it('plans nothing on a cloud replica that is not the leader (reconciliation is decided once)', async () => {
    const listNodes = jest.fn(() => []);
    let leading = false;
    const reconciler = new ReconcilerService(
      { listNodes, listInstances: () => [], liveness: { deadAfterIntervals: 3 } } as unknown as CatalogService,
      {} as DeploymentService,
      {
        engine: { mode: 'cloud', site: 'cloud', id: 'cloud-b' },
        list: () => [],
        has: () => false,
      } as unknown as DeploymentsService,
      { subscribe: jest.fn() } as unknown as NatsTransport,
      { decides: () => leading } as unknown as ReplicaService,
    );
    await expect(reconciler.reconcile()).resolves.toEqual([]);
    expect(listNodes).not.toHaveBeenCalled();
    leading = true;
    await expect(reconciler.reconcile()).resolves.toEqual([]);
    expect(listNodes).toHaveBeenCalled();
  });
});
