import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OtlpReceiver } from '../../../test/support/otlp-receiver';
import { currentTraceId, withSpan } from './spans';
import { isTracingEnabled, shutdownTracing, startTracing, tracingEnvironment } from './tracing';

describe('tracingEnvironment (OTEL_* variables)', () => {
  it('is off unless an OTLP endpoint is configured', () => {
    expect(tracingEnvironment({})).toEqual({ enabled: false, reason: 'OTEL_EXPORTER_OTLP_ENDPOINT is not set' });
    expect(tracingEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' })).toEqual({
      enabled: true,
      tracesUrl: 'http://jaeger:4318/v1/traces',
    });
    expect(tracingEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318/' })).toMatchObject({
      tracesUrl: 'http://jaeger:4318/v1/traces',
    });
    expect(
      tracingEnvironment({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example/otlp/traces',
      }),
    ).toMatchObject({ tracesUrl: 'https://collector.example/otlp/traces' });
  });

  it('honours the switches that turn it off', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' };
    expect(tracingEnvironment({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toMatchObject({ enabled: false });
    expect(tracingEnvironment({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toMatchObject({ enabled: false });
    expect(tracingEnvironment({ ...endpoint, OTEL_TRACES_EXPORTER: 'otlp' })).toMatchObject({ enabled: true });
  });

  it('refuses settings it cannot honour, naming the variable and what works', () => {
    expect(() => tracingEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'jaeger:4318' })).toThrow(
      'OTEL_EXPORTER_OTLP_ENDPOINT="jaeger:4318" is not an http(s) URL; set it like http://jaeger:4318',
    );
    expect(() =>
      tracingEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    ).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not supported: Yunbian sends OTLP over HTTP with JSON bodies/);
    expect(() =>
      tracingEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_TRACES_EXPORTER: 'zipkin' }),
    ).toThrow(/OTEL_TRACES_EXPORTER="zipkin" is not supported/);
  });
});

const ROOT = path.resolve(__dirname, '../../..');
const LIBS = path.join(ROOT, 'libs');
/** A module of this library, as an import specifier for the snippets below (they run from a temp folder). */
const source = (file: string) => JSON.stringify(path.join(__dirname, file));

/**
 * Runs a TypeScript snippet in a real Node process, the way an app runs: Jest's module
 * sandbox cannot load the OTLP exporter (it uses dynamic import()), so the exporter is
 * exercised where the apps run it. SWC compiles the sources on the fly.
 */
async function runInNode(snippet: string, env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-tracing-spec-'));
  const script = path.join(dir, 'main.ts');
  writeFileSync(script, snippet);
  const hook = `
    const fs = require('node:fs'), path = require('node:path'), Module = require('node:module');
    const { transformSync } = require('@swc/core');
    Module._extensions['.ts'] = (module, filename) => {
      const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
        filename,
        jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true }, target: 'es2022' },
        module: { type: 'commonjs' },
      });
      module._compile(code, filename);
    };
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      const alias = /^@yunbian\\/([a-z-]+)$/.exec(request);
      return resolve.call(this, alias ? path.join(${JSON.stringify(LIBS)}, alias[1], 'src') : request, ...rest);
    };
    require(${JSON.stringify(script)});
  `;
  try {
    const child = spawn(process.execPath, ['-e', hook], { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    if (code !== 0) throw new Error(`node exited with ${code ?? 'a signal (timed out?)'}: ${stderr}${stdout}`);
    return stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('startTracing with the real OTLP/HTTP exporter and a test receiver', () => {
  // A cold start compiles the library with SWC and loads the SDK: seconds, not milliseconds.
  jest.setTimeout(30_000);
  let receiver: OtlpReceiver;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
  });
  beforeEach(() => receiver.clear());
  afterEach(() => shutdownTracing());
  afterAll(() => receiver.stop());

  it('stays off, and costs nothing, without an endpoint', async () => {
    const status = startTracing({ serviceName: 'yunbian-worker', env: {} });
    expect(status).toEqual({
      enabled: false,
      serviceName: 'yunbian-worker',
      reason: 'OTEL_EXPORTER_OTLP_ENDPOINT is not set',
    });
    expect(isTracingEnabled()).toBe(false);
    await expect(withSpan('not recorded', {}, () => currentTraceId())).resolves.toBeUndefined();
    expect(Object.keys(require.cache).filter((m) => m.includes('@opentelemetry/sdk-node'))).toEqual([]);
  });

  it('exports spans as OTLP JSON with the service name, node resource attributes, kinds and parents', async () => {
    const output = await runInNode(
      `
      import { SpanKind } from ${JSON.stringify(require.resolve('@opentelemetry/api'))};
      import { nodeResourceAttributes } from ${source('attributes')};
      import { currentTraceId, withSpan } from ${source('spans')};
      import { shutdownTracing, startTracing } from ${source('tracing')};

      async function main() {
        const status = startTracing({
          serviceName: 'yunbian-agent',
          resourceAttributes: nodeResourceAttributes({ id: 'edge-a', site: 'factory-sz', tier: 'edge', tags: ['npu'] }),
        });
        const traceId = await withSpan('run inspect', { 'yunbian.run.id': 'r-1' }, async () => {
          await withSpan('step detect', { 'yunbian.step.attempt': 2 }, () => undefined, { kind: SpanKind.CLIENT });
          await withSpan('step fails', {}, () => Promise.reject(new Error('model missing'))).catch(() => undefined);
          return currentTraceId();
        });
        await shutdownTracing();
        process.stdout.write(JSON.stringify({ status, traceId }));
      }
      void main();
      `,
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    );
    const { status, traceId } = JSON.parse(output) as { status: unknown; traceId: string };
    expect(status).toEqual({ enabled: true, serviceName: 'yunbian-agent', tracesUrl: `${receiver.url}/v1/traces` });

    const spans = await receiver.waitForSpans((s) => s.traceId === traceId, 5_000, 3);
    expect(receiver.rejected).toEqual([]);
    expect(spans).toHaveLength(3);
    const byName = Object.fromEntries(receiver.spansOfTrace(traceId).map((s) => [s.name, s]));
    expect(byName['run inspect']).toMatchObject({
      kind: 'INTERNAL',
      serviceName: 'yunbian-agent',
      parentSpanId: undefined,
      attributes: { 'yunbian.run.id': 'r-1' },
      status: { code: 'OK' },
      resourceAttributes: {
        'service.name': 'yunbian-agent',
        'yunbian.node.id': 'edge-a',
        'yunbian.node.site': 'factory-sz',
        'yunbian.node.tier': 'edge',
        'yunbian.node.tags': ['npu'],
      },
    });
    expect(byName['step detect']).toMatchObject({
      kind: 'CLIENT',
      parentSpanId: byName['run inspect'].spanId,
      attributes: { 'yunbian.step.attempt': 2 },
    });
    expect(byName['step fails']).toMatchObject({
      parentSpanId: byName['run inspect'].spanId,
      status: { code: 'ERROR', message: 'model missing' },
      events: [{ name: 'exception', attributes: { 'exception.message': 'model missing' } }],
    });
  });

  it('lets OTEL_SERVICE_NAME override the name given in code', async () => {
    await runInNode(
      `
      import { SpanKind } from ${JSON.stringify(require.resolve('@opentelemetry/api'))};
      import { withSpan } from ${source('spans')};
      import { shutdownTracing, startTracing } from ${source('tracing')};

      async function main() {
        startTracing({ serviceName: 'yunbian-orchestrator' });
        await withSpan('GET /nodes', {}, () => undefined, { kind: SpanKind.SERVER });
        await shutdownTracing();
      }
      void main();
      `,
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'orchestrator-eu' },
    );
    const [span] = await receiver.waitForSpans((s) => s.name === 'GET /nodes', 5_000);
    expect(span).toMatchObject({ serviceName: 'orchestrator-eu', kind: 'SERVER' });
  });

  it('refuses protobuf bodies with a message saying what it takes', async () => {
    const response = await fetch(`${receiver.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([10, 0]),
    });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { message: string }).message).toMatch(/decodes OTLP\/HTTP JSON only/);
    await expect(receiver.waitForSpans((s) => s.name === 'never', 100)).rejects.toThrow(
      /refused requests: 415 content-type "application\/x-protobuf" is not supported/,
    );
  });
});
