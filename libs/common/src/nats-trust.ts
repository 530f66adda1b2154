import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromSeed,
  type Permissions,
} from '@nats-io/jwt';

/**
 * NATS decentralized authentication (operator mode), as every server Yunbian ships runs it.
 *
 * One operator signs two accounts: the system account (`SYS`, for the servers' own traffic and
 * for pushing account updates) and the application account (`YUNBIAN`, every Yunbian
 * connection). Users are JWTs signed with the application account's key, each carrying its own
 * publish/subscribe permissions; a server verifies them against the account JWT without being
 * told about each user, so enrolling a node needs no server change. Revoking one is an update of
 * the account JWT (its `revocations`) pushed on `$SYS.REQ.CLAIMS.UPDATE`; every server (leaf
 * nodes too, through their system-account leaf connection) then closes that user's connections
 * and refuses new ones.
 *
 * A trust directory holds it all: the operator, system and account keys (seeds: secrets, mode
 * 0600), the JWTs, a system-user and an admin-user credentials file, and `server-auth.conf`, the
 * part of a server config that names the operator (included by every nats-server config).
 */
export interface NatsTrust {
  dir: string;
  operatorJwt: string;
  operatorSeed: string;
  systemAccount: string;
  systemJwt: string;
  accountKey: string;
  accountSeed: string;
}

export const NATS_TRUST_DIR_VARIABLE = 'YUNBIAN_NATS_TRUST_DIR';
export const NATS_CREDS_VARIABLE = 'YUNBIAN_NATS_CREDS';
export const NATS_ACCOUNT_NAME = 'YUNBIAN';

/** File names inside a trust directory. */
export const NatsTrustFiles = {
  operatorJwt: 'operator.jwt',
  operatorSeed: 'operator.nk',
  systemJwt: 'system.jwt',
  systemSeed: 'system.nk',
  accountJwt: 'account.jwt',
  accountSeed: 'account.nk',
  systemCreds: 'system-user.creds',
  adminCreds: 'admin.creds',
  serverAuth: 'server-auth.conf',
  leafAccounts: 'leaf-accounts.conf',
} as const;

/** Account limits: no caps (JetStream enabled for the application account). */
const UNLIMITED = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
};
const JETSTREAM_UNLIMITED = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

const seedText = (seed: Uint8Array) => new TextDecoder().decode(seed);
const enc = (s: string) => new TextEncoder().encode(s);

function writeSecret(file: string, text: string | Uint8Array): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** The application account's JWT, with the given revoked user keys (public key → revoked-at, epoch s). */
export async function accountJwt(trust: NatsTrust, revocations: Record<string, number> = {}): Promise<string> {
  return encodeAccount(
    NATS_ACCOUNT_NAME,
    fromSeed(enc(trust.accountSeed)),
    { limits: { ...UNLIMITED, ...JETSTREAM_UNLIMITED }, ...(Object.keys(revocations).length ? { revocations } : {}) },
    { signer: fromSeed(enc(trust.operatorSeed)) },
  );
}

/** Creates a new trust (fresh operator, accounts and users) in `dir` (created; its files are secrets). */
export async function createNatsTrust(dir: string): Promise<NatsTrust> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const operatorJwt = await encodeOperator('yunbian', operator, { system_account: system.getPublicKey() });
  const systemJwt = await encodeAccount('SYS', system, { limits: UNLIMITED }, { signer: operator });
  const trust: NatsTrust = {
    dir,
    operatorJwt,
    operatorSeed: seedText(operator.getSeed()),
    systemAccount: system.getPublicKey(),
    systemJwt,
    accountKey: account.getPublicKey(),
    accountSeed: seedText(account.getSeed()),
  };
  const files = NatsTrustFiles;
  writeFileSync(path.join(dir, files.operatorJwt), operatorJwt);
  writeSecret(path.join(dir, files.operatorSeed), trust.operatorSeed);
  writeFileSync(path.join(dir, files.systemJwt), systemJwt);
  writeSecret(path.join(dir, files.systemSeed), seedText(system.getSeed()));
  writeFileSync(path.join(dir, files.accountJwt), await accountJwt(trust));
  writeSecret(path.join(dir, files.accountSeed), trust.accountSeed);
  writeSecret(path.join(dir, files.systemCreds), await systemUserCreds(trust, seedText(system.getSeed())));
  writeSecret(path.join(dir, files.adminCreds), await issueNatsUser(trust, 'admin', {}));
  writeFileSync(path.join(dir, files.serverAuth), await serverAuthConfig(trust));
  writeFileSync(path.join(dir, files.leafAccounts), leafAccountsConfig(trust));
  return trust;
}

/** Reads a trust directory `createNatsTrust` wrote; says which file is missing. */
export function loadNatsTrust(dir: string): NatsTrust {
  const read = (name: string) => {
    const file = path.join(dir, name);
    if (!existsSync(file)) {
      throw new Error(
        `NATS trust directory ${dir} has no ${name}: create one with \`node dist/tools/nats-trust/main.js init ${dir}\` (or unset ${NATS_TRUST_DIR_VARIABLE})`,
      );
    }
    return readFileSync(file, 'utf8').trim();
  };
  const operatorJwt = read(NatsTrustFiles.operatorJwt);
  const systemJwt = read(NatsTrustFiles.systemJwt);
  const accountSeed = read(NatsTrustFiles.accountSeed);
  return {
    dir,
    operatorJwt,
    operatorSeed: read(NatsTrustFiles.operatorSeed),
    systemAccount: fromSeed(enc(read(NatsTrustFiles.systemSeed))).getPublicKey(),
    systemJwt,
    accountKey: fromSeed(enc(accountSeed)).getPublicKey(),
    accountSeed,
  };
}

/** `loadNatsTrust` when `dir` holds one, else `createNatsTrust`. */
export async function ensureNatsTrust(dir: string): Promise<NatsTrust> {
  return existsSync(path.join(dir, NatsTrustFiles.operatorJwt)) ? loadNatsTrust(dir) : createNatsTrust(dir);
}

/**
 * The trust this process's NATS servers and clients use: `YUNBIAN_NATS_TRUST_DIR` when set,
 * else a new one in a temporary folder, which then becomes this process's (the variable and
 * `YUNBIAN_NATS_CREDS`, the admin user's credentials, are set, so its own connections and every
 * process it starts afterwards connect with them). The test run sets both once for all suites.
 */
export async function processNatsTrust(): Promise<NatsTrust> {
  const dir = process.env[NATS_TRUST_DIR_VARIABLE];
  if (dir) return loadNatsTrust(dir);
  processTrust ??= createNatsTrust(mkdtempSync(path.join(os.tmpdir(), 'yunbian-nats-trust-'))).then((trust) => {
    process.env[NATS_TRUST_DIR_VARIABLE] = trust.dir;
    process.env[NATS_CREDS_VARIABLE] ??= path.join(trust.dir, NatsTrustFiles.adminCreds);
    return trust;
  });
  return processTrust;
}
let processTrust: Promise<NatsTrust> | undefined;

/**
 * A user of the application account with `permissions` (none: every subject — the
 * orchestrator's and the admin's), as a `.creds` file's text. `expiresAt` (epoch s) bounds it.
 */
export async function issueNatsUser(
  trust: NatsTrust,
  name: string,
  permissions: Permissions,
  options: { expiresAt?: number } = {},
): Promise<string> {
  return (await issueNatsUserWithKey(trust, name, permissions, options)).creds;
}

/** As `issueNatsUser`, with the user's public key (what a revocation names). */
export async function issueNatsUserWithKey(
  trust: NatsTrust,
  name: string,
  permissions: Permissions,
  options: { expiresAt?: number } = {},
): Promise<{ creds: string; publicKey: string }> {
  const user = createUser();
  const token = await encodeUser(name, user, fromSeed(enc(trust.accountSeed)), permissions, {
    ...(options.expiresAt ? { exp: options.expiresAt } : {}),
  });
  return { creds: new TextDecoder().decode(fmtCreds(token, user)), publicKey: user.getPublicKey() };
}

async function systemUserCreds(trust: NatsTrust, systemSeed: string): Promise<string> {
  const user = createUser();
  const token = await encodeUser('system', user, fromSeed(enc(systemSeed)), {});
  return new TextDecoder().decode(fmtCreds(token, user));
}

/**
 * What every server config includes (`include ./trust/server-auth.conf`): the operator, the
 * system account and both account JWTs preloaded. The resolver (its directory is per server) is
 * in the including config: `resolver { type: full, dir: … }`.
 */
export async function serverAuthConfig(trust: NatsTrust): Promise<string> {
  return [
    '# Generated with the NATS trust of this deployment; do not edit.',
    // A node's user JWT lists its permissions (about 8 KB); the CONNECT line carries it.
    'max_control_line: 65536',
    `operator: "${trust.operatorJwt}"`,
    `system_account: "${trust.systemAccount}"`,
    'resolver_preload: {',
    `  ${trust.systemAccount}: "${trust.systemJwt}"`,
    `  ${trust.accountKey}: "${await accountJwt(trust)}"`,
    '}',
    '',
  ].join('\n');
}

/**
 * What a leaf node's config also includes (`include ./trust/leaf-accounts.conf`, before its
 * `leafnodes` block): the two variables its remotes bind to — `account: $YB_ACCOUNT` with the
 * leaf's credentials, and `account: $YB_SYSTEM` with the system user's, so account updates
 * (revocations) reach the leaf node too.
 */
export function leafAccountsConfig(trust: NatsTrust): string {
  return `YB_ACCOUNT: "${trust.accountKey}"\nYB_SYSTEM: "${trust.systemAccount}"\n`;
}

/** The resolver block of a server whose account JWTs live in `dir` (its own, never shared). */
export function resolverConfig(dir: string): string {
  return `resolver { type: full, dir: ${JSON.stringify(dir)}, allow_delete: false, interval: "2m" }`;
}
