import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { envString, JsonLogger } from '@yunbian/common';
import { PAYLOAD_BUCKET, type DurabilityReport } from '@yunbian/contracts';
import { MODEL_BUCKET, MODEL_META_BUCKET } from '@yunbian/models';
import {
  durabilityReport,
  FINISHED_RUN_BUCKET,
  FINISHED_RUN_STATE_BUCKET,
  NatsTransport,
  RUN_BUCKET,
  RUN_STATE_BUCKET,
} from '@yunbian/transport';
import { WORKFLOW_BUCKET } from '@yunbian/workflow';
import { CATALOG_BUCKET } from '../catalog/catalog.store';

/** The streams behind every bucket the orchestrator creates. */
export const ORCHESTRATOR_STREAMS = [
  `KV_${CATALOG_BUCKET}`,
  `KV_${WORKFLOW_BUCKET}`,
  `KV_${RUN_BUCKET}`,
  `OBJ_${RUN_STATE_BUCKET}`,
  `KV_${FINISHED_RUN_BUCKET}`,
  `OBJ_${FINISHED_RUN_STATE_BUCKET}`,
  `OBJ_${PAYLOAD_BUCKET}`,
  `KV_${MODEL_META_BUCKET}`,
  `OBJ_${MODEL_BUCKET}`,
];

/**
 * How durable the orchestrator's state is in this setup: replicas (the setting and each
 * bucket's), the cluster, the server's fsync setting (from its /varz when
 * `YUNBIAN_NATS_MONITOR_URL` names its monitoring port; otherwise from its version where
 * that says). Logged once at start and served at GET /health/durability.
 */
@Injectable()
export class DurabilityService implements OnApplicationBootstrap {
  private readonly logger = new JsonLogger('durability');
  private readonly monitorUrl = envString('YUNBIAN_NATS_MONITOR_URL', '') || undefined;

  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}

  report(): Promise<DurabilityReport> {
    return durabilityReport(this.transport, ORCHESTRATOR_STREAMS, { monitorUrl: this.monitorUrl });
  }

  /**
   * Logged in the background: the report reads the hub's streams, which a site engine
   * starting with its uplink cut cannot reach (its JetStream requests would hold the start
   * for their 5 s deadline).
   */
  onApplicationBootstrap(): void {
    this.report().then(
      (report) =>
        this.logger.info('durability', {
          replicas: report.replicas.setting,
          clusterSize: report.server.clusterSize,
          sync: report.sync.interval,
          summary: report.summary,
        }),
      (err: Error) => this.logger.warn('durability: cannot read the buckets’ streams', { error: err.message }),
    );
  }
}
