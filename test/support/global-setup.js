/**
 * Jest global setup: one NATS trust (operator, accounts, admin credentials) for the whole run,
 * in a temporary folder. `YUNBIAN_NATS_TRUST_DIR` and `YUNBIAN_NATS_CREDS` are set before any
 * test environment copies the environment, so every server a test starts runs with it and every
 * client and spawned process connects with the admin credentials unless given others.
 * libs/common/src/nats-trust.ts is compiled here with SWC (as Jest would), so the run needs no build.
 */
const path = require('node:path');
const Module = require('node:module');
const swc = require('@swc/core');

module.exports = async function createRunTrust() {
  const file = path.join(__dirname, '../../libs/common/src/nats-trust.ts');
  const { code } = swc.transformFileSync(file, {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  const loaded = new Module(file);
  loaded.filename = file;
  loaded.paths = Module._nodeModulePaths(path.dirname(file));
  loaded._compile(code, file);
  const trust = await loaded.exports.processNatsTrust();
  process.env.YUNBIAN_TEST_TRUST_DIR = trust.dir;
};
