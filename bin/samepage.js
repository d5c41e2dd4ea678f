#!/usr/bin/env node
// The samepage command. The only place that sets the exit status.
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
