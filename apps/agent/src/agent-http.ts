import http from 'node:http';
import { AggregatorRegistry, type PrometheusContentType, type Registry } from 'prom-client';
import type { AddressInfo } from 'node:net';
import { yunbianMetrics } from '@yunbian/observability';
import type { NatsTransport } from '@yunbian/transport';
import type { InstanceSupervisor } from './instance-supervisor';

/**
 * The agent's HTTP face: `/metrics` (its instances' queue depths and in-flight counts, as
 * the workers report them, plus process metrics), `/health/live` and `/health/ready`
 * (ready while NATS is connected).
 */
export async function serveAgentHttp(
  port: number,
  transport: NatsTransport,
  supervisor: InstanceSupervisor,
  nodeId: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`YUNBIAN_METRICS_PORT must be a port number (got "${port}")`);
  }
  const metrics = yunbianMetrics();
  const server = http.createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://agent').pathname;
    if (path === '/metrics') {
      for (const i of supervisor.reports()) {
        metrics.instanceQueueDepth.set(
          { service: `${i.service}@${i.version}`, node: nodeId, instance: i.id },
          i.queued,
        );
      }
      void renderAll(metrics.registry, supervisor.workerMetrics()).then(
        (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (err: Error) => json(response, 500, { message: `metrics could not be rendered: ${err.message}` }),
      );
      return;
    }
    if (path === '/health/live') return json(response, 200, { status: 'ok' });
    if (path === '/health/ready') {
      const up = transport.isConnected;
      return json(response, up ? 200 : 503, { status: up ? 'ok' : 'error', nats: up ? 'up' : 'down' });
    }
    json(response, 404, { message: 'try /metrics, /health/live or /health/ready' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error) => reject(new Error(`cannot listen on port ${port}: ${err.message}`)));
    server.listen(port, '0.0.0.0', resolve);
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The agent's own metrics plus its workers' reports summed per series (node totals). */
async function renderAll(own: Registry, workers: unknown[][]): Promise<string> {
  if (workers.length === 0) return own.metrics();
  // Aggregating the agent's own series with the workers' sums same-named series (the agent
  // declares the inference metrics too, with no samples) instead of clashing on names.
  return AggregatorRegistry.aggregate<PrometheusContentType>([await own.getMetricsAsJSON(), ...workers]).metrics();
}

function json(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
