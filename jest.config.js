/** Jest runs TypeScript through SWC. @nestjs and @nats-io ship ES modules only, and Jest's
 * module loader cannot require() them, so SWC transforms them to CommonJS too. */
const esmPackages = ['@nestjs', '@nats-io', 'uuid', 'nanoid'];
module.exports = {
  testEnvironment: 'node',
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
  moduleNameMapper: { '^@yunbian/([a-z-]+)$': '<rootDir>/libs/$1/src' },
  testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
};
