import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface ScaffoldOptions {
  /** The service's name: lowercase letters, digits, `-` and `_` (it is the npm package name too). */
  name: string;
  /** Where to write the project; created if missing, refused if it has files. */
  dir: string;
  /** How the project depends on the SDK: `file:/…/yunbian-service-sdk-0.1.0.tgz`, `file:/…/packages/service-sdk`, `^0.1.0`. */
  sdkSpec: string;
  /** Version of the service (default 0.1.0). */
  version?: string;
}

/**
 * The SDK's npm name. Spelled in two parts because the build rewrites the repository's path
 * aliases (tsc-alias) in every `from '…'` it finds, template text included.
 */
export const SDK_PACKAGE = ['@yunbian', 'service-sdk'].join('/');

/** Service names the scaffold accepts: a service name that is an npm package name as well. */
export const SCAFFOLD_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Why `name` cannot be scaffolded, or undefined when it can. */
export function scaffoldNameProblem(name: string): string | undefined {
  if (SCAFFOLD_NAME.test(name)) return undefined;
  return `service name "${name}" is not accepted: use 1-64 lowercase letters, digits, "-" or "_", starting with a letter or digit (it becomes a NATS subject token and the npm package name)`;
}

/** The files of a new service project, by path relative to its directory. */
export function scaffoldFiles(options: Omit<ScaffoldOptions, 'dir'>): Record<string, string> {
  const { name, sdkSpec } = options;
  const version = options.version ?? '0.1.0';
  const problem = scaffoldNameProblem(name);
  if (problem) throw new Error(problem);
  const packageJson = {
    name,
    version,
    private: true,
    description: `The ${name} service for Yunbian`,
    scripts: {
      build: 'tsc -p tsconfig.json',
      watch: 'tsc -p tsconfig.json --watch',
      test: 'npm run build && node --test test/',
    },
    dependencies: { [SDK_PACKAGE]: sdkSpec },
    devDependencies: { typescript: '^5.9.0' },
  };
  // CommonJS output (no "type": "module"): agents load services with require().
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'node16',
      moduleResolution: 'node16',
      lib: ['ES2022'],
      strict: true,
      rootDir: 'src',
      outDir: 'dist',
      types: [],
      skipLibCheck: true,
    },
    include: ['src'],
  };
  const service = `import { defineService, ServiceError } from '${SDK_PACKAGE}';

interface Input {
  text: string;
  times?: number;
}

interface Output {
  text: string;
  servedBy: string;
}

/**
 * ${name}: repeats a text. Build it (\`npm run build\`), put this project's dist/ directory in an
 * agent's YUNBIAN_SERVICE_PATH, and the agent lists it without a restart.
 */
export const service = defineService<Input, Output>({
  name: '${name}',
  version: '${version}',
  kind: 'data',
  description: 'Repeats a text (scaffolded example: replace with your own logic).',
  // Requests are checked against this schema before handle runs.
  input: {
    type: 'object',
    required: ['text'],
    additionalProperties: false,
    properties: { text: { type: 'string', maxLength: 10000 }, times: { type: 'integer', minimum: 1, maximum: 100 } },
  },
  output: {
    type: 'object',
    required: ['text', 'servedBy'],
    properties: { text: { type: 'string' }, servedBy: { type: 'string' } },
  },
  requirements: { memoryMb: 64 },
  handle(input, context) {
    if (input.text.trim() === '') throw new ServiceError('BAD_REQUEST', 'text is blank: send some characters to repeat');
    return { text: input.text.repeat(input.times ?? 1), servedBy: context.instanceId };
  },
});
`;
  const test = `// Runs the built service's handler directly: \`npm test\` (builds first).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { service as Service } from '../dist/${name}.service.js';

const context = { instanceId: 'test-instance', nodeId: 'test-node', config: {} };

test('repeats the text', async () => {
  const out = await new Service().handle({ text: 'ab', times: 3 }, context);
  assert.deepEqual(out, { text: 'ababab', servedBy: 'test-instance' });
});

test('refuses a blank text with a code the caller can act on', async () => {
  await assert.rejects(async () => new Service().handle({ text: '  ' }, context), { code: 'BAD_REQUEST' });
});
`;
  const readme = `# ${name}

A Yunbian service. \`npm install\`, then \`npm test\` (builds to \`dist/\` and runs the test).

Run it on a node: add this project's \`dist/\` directory to the agent's \`YUNBIAN_SERVICE_PATH\`
(\`:\`-separated). The agent picks up new and rebuilt services there without a restart
(\`npm run watch\` rebuilds on every save); then deploy it like any other service:
\`POST /instances {"service": "${name}@^${version.split('.')[0]}", "nodeId": "…"}\`.
`;
  return {
    'package.json': JSON.stringify(packageJson, null, 2) + '\n',
    'tsconfig.json': JSON.stringify(tsconfig, null, 2) + '\n',
    [`src/${name}.service.ts`]: service,
    [`test/${name}.test.mjs`]: test,
    'README.md': readme,
    '.gitignore': 'node_modules/\ndist/\n',
  };
}

/** Writes a one-file service project (service, package.json, tsconfig, test); returns the files written. */
export function scaffoldService(options: ScaffoldOptions): string[] {
  const files = scaffoldFiles(options);
  const dir = path.resolve(options.dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new Error(`${dir} is not empty: choose a new or empty directory (nothing was written)`);
  }
  const written: string[] = [];
  for (const [relative, content] of Object.entries(files)) {
    const file = path.join(dir, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content, { flag: 'wx' });
    written.push(file);
  }
  return written;
}
