#!/usr/bin/env node
/** `yb`, the Yunbian command line (package.json `bin`; `npx yb --help`). */
import { runCli } from './program';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
