/** The example app's settings, read once from the environment and checked. */
export interface SensorStatsConfig {
  natsUrl: string;
  nodeId?: string;
  site: string;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): SensorStatsConfig {
  const natsUrl = env.NATS_URL ?? 'nats://127.0.0.1:4222';
  if (!/^(nats|tls|wss?):\/\//.test(natsUrl.split(',')[0].trim()))
    throw new Error(`NATS_URL "${natsUrl}" is not a NATS URL (for example nats://127.0.0.1:4222)`);
  return { natsUrl, nodeId: env.NEST_NODE_ID || undefined, site: env.NEST_SITE || 'default' };
}
