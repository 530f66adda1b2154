import { register as globalRegistry } from 'prom-client';
import { startMetricsServer, YunbianMetrics, yunbianMetrics } from './metrics';

describe('YunbianMetrics', () => {
  it('registers nothing anywhere until created', async () => {
    expect((await globalRegistry.metrics()).trim()).toBe('');
  });

  it('renders every metric of issue 6 with its labels in Prometheus text format', async () => {
    const metrics = new YunbianMetrics({ processMetrics: false });
    metrics.workflowRuns.inc({ workflow: 'inspect-parts', status: 'succeeded' });
    metrics.workflowRuns.inc({ workflow: 'inspect-parts', status: 'failed' });
    metrics.workflowRuns.inc({ workflow: 'inspect-parts', status: 'succeeded' });
    metrics.stepDuration.observe({ service: 'detect@1.0.0', node: 'edge-a', outcome: 'ok' }, 0.042);
    metrics.stepDuration.observe({ service: 'detect@1.0.0', node: 'edge-a', outcome: 'TIMEOUT' }, 5);
    metrics.placementDecisions.inc({ strategy: 'latency-cost', outcome: 'placed' });
    metrics.instanceQueueDepth.set({ service: 'detect@1.0.0', node: 'edge-a', instance: 'i-7' }, 3);
    metrics.inferenceDuration.observe({ model: 'yolo-n@2', node: 'edge-a' }, 0.018);
    metrics.inferenceBatchSize.observe({ model: 'yolo-n@2', node: 'edge-a' }, 8);
    metrics.heartbeatLag.observe({ node: 'edge-a' }, 0.004);

    const text = await metrics.render();
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('# TYPE yunbian_workflow_runs_total counter');
    expect(text).toContain('yunbian_workflow_runs_total{workflow="inspect-parts",status="succeeded"} 2');
    expect(text).toContain('yunbian_workflow_runs_total{workflow="inspect-parts",status="failed"} 1');
    expect(text).toContain('# TYPE yunbian_step_duration_seconds histogram');
    expect(text).toContain(
      'yunbian_step_duration_seconds_bucket{le="0.05",service="detect@1.0.0",node="edge-a",outcome="ok"} 1',
    );
    expect(text).toContain(
      'yunbian_step_duration_seconds_count{service="detect@1.0.0",node="edge-a",outcome="TIMEOUT"} 1',
    );
    expect(text).toContain('yunbian_placement_decisions_total{strategy="latency-cost",outcome="placed"} 1');
    expect(text).toContain('yunbian_instance_queue_depth{service="detect@1.0.0",node="edge-a",instance="i-7"} 3');
    expect(text).toContain('yunbian_inference_duration_seconds_sum{model="yolo-n@2",node="edge-a"} 0.018');
    expect(text).toContain('yunbian_inference_batch_size_bucket{le="8",model="yolo-n@2",node="edge-a"} 1');
    expect(text).toContain('yunbian_heartbeat_lag_seconds_count{node="edge-a"} 1');
    expect(text).not.toContain('process_cpu');

    // Gone instances leave the page instead of freezing at their last value.
    metrics.instanceQueueDepth.remove({ service: 'detect@1.0.0', node: 'edge-a', instance: 'i-7' });
    expect(await metrics.render()).not.toContain('instance="i-7"');
  });

  it('adds process metrics and default labels when asked, in its own registry', async () => {
    const metrics = new YunbianMetrics({ defaultLabels: { app: 'yunbian-agent' } });
    const text = await metrics.render();
    expect(text).toMatch(/^process_cpu_user_seconds_total\{app="yunbian-agent"\} /m);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect((await globalRegistry.metrics()).trim()).toBe('');
  });

  it('shares one instance per process', () => {
    expect(yunbianMetrics({ processMetrics: false })).toBe(yunbianMetrics());
  });

  it('serves GET /metrics on its own port for processes without an HTTP server', async () => {
    const metrics = new YunbianMetrics({ processMetrics: false });
    metrics.heartbeatLag.observe({ node: 'edge-b' }, 0.01);
    const server = await startMetricsServer(metrics, { port: 0, host: '127.0.0.1' });
    try {
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(metrics.contentType);
      expect(await response.text()).toContain('yunbian_heartbeat_lag_seconds_count{node="edge-b"} 1');
      expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
      expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it('says which port it could not take', async () => {
    const metrics = new YunbianMetrics({ processMetrics: false });
    const first = await startMetricsServer(metrics, { port: 0, host: '127.0.0.1' });
    try {
      await expect(startMetricsServer(metrics, { port: first.port, host: '127.0.0.1' })).rejects.toThrow(
        `cannot serve metrics on 127.0.0.1:${first.port}: listen EADDRINUSE`,
      );
    } finally {
      await first.close();
    }
  });
});
