/** Jest runs TypeScript through SWC. @nestjs and @nats-io ship ES modules only, and Jest's
 * module loader cannot require() them, so SWC transforms them to CommonJS too. */
const { existsSync } = require('node:fs');

// jimp's file-type exports only `import` conditions, which Jest's resolver does not use.
const fileType = ['node_modules/@jimp/core/node_modules/file-type', 'node_modules/file-type'].find((d) =>
  existsSync(`${__dirname}/${d}/index.js`),
);

const esmPackages = [
  '@nestjs',
  '@nats-io',
  '@jimp',
  'file-type',
  'strtok3',
  'token-types',
  'peek-readable',
  '@tokenizer',
  'uint8array-extras',
  '@borewit',
  'uuid',
  'nanoid',
  'jose',
];
/** Settings both projects share. */
const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  // OpenCV's WebAssembly module hangs large objects on the global scope; Jest's soft
  // deletion of globals between files then recurses on them until the stack overflows.
  testEnvironmentOptions: { globalsCleanup: 'off' },
  transform: {
    '^.+\\.(t|j|mj)s$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  moduleNameMapper: {
    '^@yunbian/([a-z-]+)$': '<rootDir>/libs/$1/src',
    ...(fileType ? { '^file-type$': `<rootDir>/${fileType}/index.js` } : {}),
  },
};

/**
 * Two projects: `unit` (specs beside the code, in-process, no build needed) and `e2e`
 * (test/, processes spawned from dist/). `jest` runs both; `--selectProjects unit` one (it takes
 * every following word as a project name: give test paths before it, or another flag between).
 */
module.exports = {
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/libs/**/*.spec.ts',
        '<rootDir>/packages/*/src/**/*.spec.ts',
        '<rootDir>/apps/**/*.spec.ts',
        '<rootDir>/tools/**/*.spec.ts',
      ],
    },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
