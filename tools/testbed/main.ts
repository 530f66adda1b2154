/**
 * `npm run testbed -- <topology.yaml>`: builds the emulated sites and links of a topology,
 * runs NATS, the orchestrator and the agents inside them, prints where everything is and
 * the links as measured, then takes link changes on stdin and over its control API until
 * Ctrl-C, which tears everything down.
 */
import readline from 'node:readline';
import { envInt } from '@yunbian/common';
import { LINE_HELP, runLine, startControlServer } from './control';
import { Testbed, TestbedUnavailableError } from './testbed';
import { TopologyError } from './topology';

const say = (line = '') => process.stdout.write(line + '\n');

interface CliConfig {
  topologyFile: string;
  port: number;
  controlPort: number;
  heartbeatMs?: number;
}

/** The CLI's whole configuration: the argument and the environment, read once. */
function readConfig(argv: string[], env: NodeJS.ProcessEnv): CliConfig {
  const topologyFile = argv[0];
  if (!topologyFile || argv.length > 1) {
    throw new Error('usage: npm run testbed -- <topology.yaml>   (e.g. tools/testbed/topologies/factory.yaml)');
  }
  return {
    topologyFile,
    port: envInt('PORT', 3000),
    controlPort: envInt('YUNBIAN_TESTBED_CONTROL_PORT', 3100),
    heartbeatMs: env.YUNBIAN_HEARTBEAT_MS ? envInt('YUNBIAN_HEARTBEAT_MS', 2000) : undefined,
  };
}

async function main(): Promise<void> {
  let config: CliConfig;
  try {
    config = readConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  let bed: Testbed;
  try {
    say(`testbed: starting ${config.topologyFile}`);
    bed = await Testbed.start(config.topologyFile, { port: config.port, heartbeatMs: config.heartbeatMs, say });
  } catch (err) {
    process.stderr.write(`testbed: ${(err as Error).message}\n`);
    process.exit(err instanceof TopologyError ? 2 : err instanceof TestbedUnavailableError ? 3 : 1);
  }
  const control = await startControlServer(bed, config.controlPort).catch(async (err: Error) => {
    process.stderr.write(`testbed: ${err.message}\n`);
    await bed.stop();
    process.exit(1);
  });

  say('');
  say(`orchestrator  ${bed.api}   (OpenAPI: ${bed.api}/docs)`);
  for (const site of bed.topology.sites.filter((s) => s.kind === 'edge')) {
    const url = await bed.siteEngineApi(site.name).catch((err: Error) => `unavailable: ${err.message}`);
    say(`site engine   ${url}   (${site.name}; POST /workflows/{name}/runs there starts runs at the edge)`);
  }
  say(
    `control       http://127.0.0.1:${config.controlPort}/links   (PUT /links/{site}, POST /links/{site}/cut|restore|measure)`,
  );
  say(`logs          ${bed.logDir}`);
  say('');
  // Give the agents a few heartbeats to measure the links before summarising them.
  await new Promise((r) => setTimeout(r, 5_000));
  for (const line of await bed.summary().catch((err: Error) => [`summary unavailable: ${err.message}`])) say(line);
  say('');
  say(LINE_HELP);
  say('Ctrl-C tears everything down.');

  const stopAndExit = () => {
    say('tearing the testbed down…');
    control.close();
    void bed.stop().then(() => process.exit(0));
  };
  const prompt = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: 'testbed> ' });
  prompt.prompt();
  prompt.on('line', (line) => {
    if (line.trim() === 'quit') return stopAndExit();
    void runLine(bed, line).then(
      (out) => {
        if (out) say(out);
        prompt.prompt();
      },
      (err: Error) => {
        say(`error: ${err.message}`);
        prompt.prompt();
      },
    );
  });
  // Ctrl-D at a terminal stops; with no terminal (stdin at EOF) the testbed keeps running
  // under its control API until a signal.
  prompt.on('close', () => {
    if (process.stdin.isTTY) stopAndExit();
  });
}

void main();
