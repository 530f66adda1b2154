/**
 * Jest global teardown: a nats-server a test started and never stopped (its setup timed out
 * half-way, say) is killed here and named, so a run never leaves servers behind. Jest's test
 * environments give tests a copy of `process`, on which an `exit` listener never fires; this
 * runs in Jest's own process, whose children the servers are.
 */
const { readdirSync, readFileSync } = require('node:fs');

module.exports = async function killLeakedNatsServers() {
  // The run's NATS trust (test/support/global-setup.js) goes with it.
  if (process.env.YUNBIAN_TEST_TRUST_DIR) {
    require('node:fs').rmSync(process.env.YUNBIAN_TEST_TRUST_DIR, { recursive: true, force: true });
  }
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return; // no /proc: nothing to look at
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid …; comm may contain spaces, so split after the last ')'.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (comm !== 'nats-server' || ppid !== process.pid) continue;
    let args = '';
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      // gone meanwhile
    }
    process.stderr.write(`global teardown: killing nats-server ${entry} a test left running (${args})\n`);
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // already gone
    }
  }
};
