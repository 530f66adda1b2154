import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureNatsTrust, issueNatsUser, leafAccountsConfig, NatsTrustFiles, serverAuthConfig } from '@yunbian/common';
import { assertToken } from '@yunbian/contracts';

const USAGE = `usage:
  nats-trust init <dir>                    create the deployment's NATS trust in <dir> (kept if it exists)
  nats-trust site <dir> <site> <out-dir>   write what a site's leaf node needs into <out-dir>: server-auth.conf,
                                           leaf-accounts.conf, system-user.creds and leaf.creds (no signing keys)`;

/**
 * The deployment's NATS trust, for servers the project does not start itself (compose, your
 * own): `init` makes the operator, accounts and admin credentials once; `site` hands an edge
 * site what its leaf node includes (compose/nats/leaf.conf mounts it as /etc/nats/trust).
 */
async function main(argv: string[]): Promise<number> {
  const [command, dir, ...rest] = argv;
  if (command === 'init' && dir) {
    const trust = await ensureNatsTrust(path.resolve(dir));
    process.stdout.write(
      `NATS trust in ${trust.dir}\n  account ${trust.accountKey}\n  admin credentials ${path.join(trust.dir, NatsTrustFiles.adminCreds)}\n`,
    );
    return 0;
  }
  if (command === 'site' && dir && rest.length === 2) {
    const [site, out] = rest as [string, string];
    assertToken(site, 'site name');
    const trust = await ensureNatsTrust(path.resolve(dir));
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, NatsTrustFiles.serverAuth), await serverAuthConfig(trust));
    writeFileSync(path.join(out, NatsTrustFiles.leafAccounts), leafAccountsConfig(trust));
    copyFileSync(path.join(trust.dir, NatsTrustFiles.systemCreds), path.join(out, NatsTrustFiles.systemCreds));
    writeFileSync(path.join(out, 'leaf.creds'), await issueNatsUser(trust, `leaf ${site}`, {}), { mode: 0o600 });
    process.stdout.write(`leaf node files of site ${site} in ${path.resolve(out)}\n`);
    return 0;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`nats-trust: ${err.message}\n`);
    process.exit(1);
  },
);
