#!/usr/bin/env bash
# Makes the sample cores in samples/: two small processes of known content, dumped with gdb's
# gcore and compressed with zstd, then the expected report of samepage on them.
#   bash samples/make-samples.sh      (as root; needs cc, gdb, zstd and a built samepage)
# The processes run from a neutral folder with an empty environment, so that nothing of the
# machine that made them (paths, variables) ends up in the cores' stacks.
set -euo pipefail
cd "$(dirname "$0")/.."
work=/opt/samepage-samples
mkdir -p "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cc -O2 -o "$work/pagefill" test/fixtures/pagefill.c

started=
start() { # name, ops...: starts pagefill in this shell, waits for its ready line, sets $started
  local name=$1; shift
  # A job of this very shell, not of a subshell: pagefill exits when the shell that started it does.
  pushd "$work" >/dev/null
  env -i PATH=/usr/bin:/bin ./pagefill "$@" >"$work/$name.ready" 2>&1 &
  popd >/dev/null
  for _ in $(seq 100); do
    if grep -q '^ready' "$work/$name.ready" 2>/dev/null; then started=$(awk '{print $2}' "$work/$name.ready"); return; fi
    sleep 0.1
  done
  echo "make-samples: $name did not start: $(cat "$work/$name.ready")" >&2
  exit 1
}

# Two copies of a service: 64 pages each of 16 shared contents (cycle), 32 identical pages,
# 32 zero-filled pages, and a few unique pages each.
start service-a anon:64:cycle=1,16 anon:32:byte=7 anon:32:zero anon:8:uniq
gcore -o "$work/service-a" "$started" >/dev/null 2>&1
zstd -q -19 -f "$work/service-a.$started" -o samples/service-a.core.zst
start service-b anon:64:cycle=1,16 anon:32:byte=7 anon:8:uniq
gcore -o "$work/service-b" "$started" >/dev/null 2>&1
zstd -q -19 -f "$work/service-b.$started" -o samples/service-b.core.zst
node bin/samepage.js report samples/service-a.core.zst samples/service-b.core.zst --use-zero-pages 0 --max-page-sharing 256 --json >samples/expected-report.json
echo "samples: $(ls samples/*.zst | tr '\n' ' ')and samples/expected-report.json"
