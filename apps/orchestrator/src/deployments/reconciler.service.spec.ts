import type { NatsTransport } from '@yunbian/transport';
import type { CatalogService } from '../catalog/catalog.service';
import type { DeploymentService } from '../catalog/deployment.service';
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
    );
    reconciler.onApplicationBootstrap();
    await expect(reconciler.reconcile()).resolves.toEqual([]);
    expect(subscribe).not.toHaveBeenCalled();
    expect(listNodes).not.toHaveBeenCalled();
    reconciler.onApplicationShutdown();
  });
});
