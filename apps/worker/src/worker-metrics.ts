import { envInt } from '@yunbian/common';
import type { WorkerToAgent } from '@yunbian/contracts';
import { yunbianMetrics } from '@yunbian/observability';

/**
 * Sends the process's service figures (inference latency, batch sizes) to the agent when
 * they change, for its /metrics; process metrics stay out, as the agent reports its node's.
 * Once per process: the registry is the process's, shared by every instance in it.
 */
export function reportMetrics(send: (message: WorkerToAgent) => void): NodeJS.Timeout {
  const metrics = yunbianMetrics({ processMetrics: false });
  let lastMetrics = '';
  return setInterval(
    () => {
      void metrics.registry.getMetricsAsJSON().then((json) => {
        const text = JSON.stringify(json);
        if (text !== lastMetrics) {
          lastMetrics = text;
          send({ type: 'metrics', metrics: json });
        }
      });
    },
    envInt('YUNBIAN_METRICS_REPORT_MS', 1_000),
  );
}
