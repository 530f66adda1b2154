import { AgentConfigError, loadAgentConfig } from './agent-config';
import { DEFAULT_BANDWIDTH_PROBE } from './bandwidth-prober';

describe('loadAgentConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadAgentConfig({})).toEqual({
      natsUrl: 'nats://127.0.0.1:4222',
      heartbeatIntervalMs: 2_000,
      bandwidth: DEFAULT_BANDWIDTH_PROBE,
      serviceDirectories: [],
      serviceRescanMs: 5_000,
      sharedWorker: true,
      workerSemiSpaceMb: 4,
      cgroups: 'auto',
      metricsPort: undefined,
      jsReplicas: 1,
      jsDomain: undefined,
      allowedModelDirs: [],
      modelVerifyKeys: [],
      enrolment: { orchestratorUrl: 'http://127.0.0.1:3000' },
    });
  });

  it('reads every setting', () => {
    const config = loadAgentConfig({
      NATS_URL: 'nats://hub:4222',
      YUNBIAN_HEARTBEAT_MS: '500',
      YUNBIAN_BANDWIDTH_PROBE_MS: '3000',
      YUNBIAN_BANDWIDTH_BUDGET_BYTES: '500000',
      YUNBIAN_SERVICE_PATH: '/srv/services:/opt/greeter/dist',
      YUNBIAN_SERVICE_RESCAN_MS: '0',
      YUNBIAN_SHARED_WORKER: '0',
      YUNBIAN_WORKER_SEMI_SPACE_MB: '2',
      YUNBIAN_CGROUPS: 'off',
      YUNBIAN_METRICS_PORT: '9101',
      YUNBIAN_JS_REPLICAS: '3',
      YUNBIAN_JS_DOMAIN: 'hub',
      YUNBIAN_ALLOWED_MODEL_DIRS: '/srv/models:/opt/dicts',
      YUNBIAN_ENROLMENT_TOKEN: 'ybe_0123456789ab_secret',
      YUNBIAN_ORCHESTRATOR_URL: 'http://cloud:3000',
      YUNBIAN_NATS_CREDS: '/var/lib/yunbian/node.creds',
    });
    expect(config).toEqual({
      natsUrl: 'nats://hub:4222',
      heartbeatIntervalMs: 500,
      bandwidth: { intervalMs: 3_000, budgetBytesPerMinute: 500_000 },
      serviceDirectories: ['/srv/services', '/opt/greeter/dist'],
      serviceRescanMs: 0,
      sharedWorker: false,
      workerSemiSpaceMb: 2,
      cgroups: 'off',
      metricsPort: 9101,
      jsReplicas: 3,
      jsDomain: 'hub',
      allowedModelDirs: ['/srv/models', '/opt/dicts'],
      modelVerifyKeys: [],
      enrolment: {
        token: 'ybe_0123456789ab_secret',
        orchestratorUrl: 'http://cloud:3000',
        credentialsFile: '/var/lib/yunbian/node.creds',
      },
    });
    expect(loadAgentConfig({ YUNBIAN_BANDWIDTH_PROBE: 'off' }).bandwidth).toBeUndefined();
  });

  it('names every bad variable at once, with what is accepted', () => {
    let error: unknown;
    try {
      loadAgentConfig({
        YUNBIAN_HEARTBEAT_MS: 'fast',
        YUNBIAN_CGROUPS: 'yes',
        YUNBIAN_BANDWIDTH_PROBE: 'sometimes',
        YUNBIAN_METRICS_PORT: '70000',
        YUNBIAN_SHARED_WORKER: 'maybe',
        YUNBIAN_JS_REPLICAS: '7',
        YUNBIAN_ALLOWED_MODEL_DIRS: 'models',
        YUNBIAN_SERVICE_RESCAN_MS: 'often',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AgentConfigError);
    expect((error as AgentConfigError).problems).toEqual([
      'environment variable YUNBIAN_BANDWIDTH_PROBE="sometimes" must be on or off',
      'environment variable YUNBIAN_METRICS_PORT="70000" must be a port (1–65535)',
      'environment variable YUNBIAN_HEARTBEAT_MS="fast" must be a positive integer',
      'environment variable YUNBIAN_SHARED_WORKER="maybe" must be 1/true/on or 0/false/off',
      'environment variable YUNBIAN_SERVICE_RESCAN_MS="often" must be an integer ≥ 0',
      'environment variable YUNBIAN_CGROUPS="yes" must be auto or off',
      'environment variable YUNBIAN_JS_REPLICAS="7" must be a whole number from 1 to 5: the replicas of every JetStream bucket Yunbian creates (3 on a 3-server cluster; unset means 1)',
      'environment variable YUNBIAN_ALLOWED_MODEL_DIRS="models" must list absolute directories separated by ":" (got "models")',
    ]);
  });
});
