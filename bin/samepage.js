#!/usr/bin/env node
// The samepage command. The only place that sets the exit status.
import { setFlagsFromString } from 'node:v8';

// A small young generation: samepage allocates little per page, and the default semi-space
// (16 MiB) is resident memory a scan of many GiB does not need. --optimize-for-size makes the
// old generation grow in smaller steps: 20 MiB less at the peak of a scan of Chromium (16
// processes, 12,000 VMAs); the per-page work is native, so the JIT's speed hardly matters.
setFlagsFromString('--max-semi-space-size=1');
setFlagsFromString('--optimize-for-size');
let main;
try {
  ({ main } = await import('../dist/cli.js'));
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write("samepage: not built yet: run 'npm ci' (or 'npm run build') in the samepage folder\n");
    process.exit(2);
  }
  throw err;
}
process.exitCode = await main(process.argv.slice(2));
