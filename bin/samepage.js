#!/bin/sh
':' //; exec node --max-semi-space-size=1 --optimize-for-size "$0" "$@"
// The samepage command. The only place that sets the exit status. Run as a program, the lines
// above are a shell script that starts Node with its heap flags (an `env -S` #! line would say
// the same, but BusyBox's env has no -S); to Node, line 2 is a string and a comment.
import { setFlagsFromString } from 'node:v8';

// A small young generation: samepage allocates little per page, and the default semi-space
// (16 MiB) is resident memory a scan of many GiB does not need. --optimize-for-size makes the
// old generation grow in smaller steps; the per-page work is native, so the JIT's speed
// hardly matters. V8 sizes its heap when it starts, so the flags belong on the command line
// (line 2): set from here, as they are when this file is run as `node bin/samepage.js`, they
// do part of their work (a scan of 8 Chromium tabs peaks at 66 MiB with them on the command
// line, 70-72 MiB with them set here).
setFlagsFromString('--max-semi-space-size=1');
setFlagsFromString('--optimize-for-size');
// A live scan (the default command) with the native addon does its per-page work in C; the
// JavaScript left is glue that V8's baseline compiler runs fast enough, and never starting the
// optimising compiler (TurboFan) takes 7-12 MiB off the peak of a scan of Chromium (8 tabs) at
// no cost in time. Snapshots and reports loop over pages in JavaScript (the snapshot writer,
// the pure-JS zstd of cores), as does the reader without the addon.
const command = process.argv[2];
// --group-by runs its partitions and merges of the index in JavaScript: there the optimising
// compiler is worth its memory (a scan of 49 processes in groups: 3.7 s of group models without it).
const live = command !== 'snapshot' && command !== 'report' && !process.argv.some((a) => a === '--group-by' || a.startsWith('--group-by=') || a === '--qemu');
let main;
try {
  if (live) {
    const { nativeAddon } = await import('../dist/native/native-addon.js');
    if (nativeAddon() !== null) setFlagsFromString('--max-opt=1');
  }
  ({ main } = await import('../dist/cli.js'));
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write("samepage: not built yet: run 'npm ci' (or 'npm run build') in the samepage folder\n");
    process.exit(2);
  }
  throw err;
}
process.exitCode = await main(process.argv.slice(2));
