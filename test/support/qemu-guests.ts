// Real VM guests for KSM tests: QEMU (TCG, so no KVM needed) booting Debian's kernel with a
// small busybox initramfs that fills guest memory with contents common to every guest and
// contents unique to each, prints a ready line on the serial console, then idles.
//
// QEMU's defaults are kept where they matter to KSM: guest RAM is anonymous memory marked
// MADV_MERGEABLE (mem-merge=on) and MADV_HUGEPAGE, as on a real virtualisation host.
//
// The kernel image and busybox come from Debian's packages, fetched once with
// `apt-get download` into a cache outside the repository (SAMEPAGE_GUEST_CACHE, default
// $XDG_CACHE_HOME/samepage-test or ~/.cache/samepage-test) and unpacked with `dpkg-deb -x`;
// only the two files needed are kept. When QEMU, apt, cpio or the download is missing, the
// callers skip with the reason guestBootFiles() gives.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildFixture } from './fixtures.js';
import { seededUint32 } from './rng.js';

const execFileAsync = promisify(execFile);

/** The line the guest's /init prints on the serial console once its memory is filled. */
export const GUEST_READY_MARKER = 'SAMEPAGE-GUEST-READY';

const QEMU = 'qemu-system-x86_64';
const DEFAULT_READY_TIMEOUT_MS = 120_000;
const CONSOLE_KEEP_CHARS = 16_384;

/** The kernel image and busybox binary a guest boots from. */
export interface GuestBootFiles {
  kernel: string;
  busybox: string;
  /** The Debian package the kernel came from, e.g. linux-image-6.1.0-57-amd64 6.1.192-3. */
  kernelPackage: string;
  busyboxPackage: string;
  /** Milliseconds spent downloading and unpacking (0 when both came from the cache). */
  fetchMs: number;
}

/** Where the downloaded kernel and busybox are kept between test runs. */
export function guestCacheDir(): string {
  const override = process.env['SAMEPAGE_GUEST_CACHE'];
  if (override) return override;
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'samepage-test');
}

/**
 * The boot files from the cache, fetched first if missing; or, when they cannot be had here,
 * a string saying why (for a test to skip with).
 */
export async function guestBootFiles(): Promise<GuestBootFiles | string> {
  for (const tool of [QEMU, 'apt-get', 'apt-cache', 'dpkg-deb', 'cpio']) {
    if (!(await onPath(tool))) return `${tool} is not installed (.ci/run installs it)`;
  }
  const started = Date.now();
  let fetched = false;
  const kernelPkg = await candidate(await kernelPackageName());
  if (typeof kernelPkg === 'string') return kernelPkg;
  const busyboxPkg = await candidate('busybox-static');
  if (typeof busyboxPkg === 'string') return busyboxPkg;

  const cache = guestCacheDir();
  const kernelDir = join(cache, `${kernelPkg.name}_${kernelPkg.version}`);
  const busyboxDir = join(cache, `busybox-static_${busyboxPkg.version}`);
  try {
    await mkdir(cache, { recursive: true });
    if (!existsSync(join(kernelDir, 'vmlinuz'))) {
      await fetchPackage(cache, kernelPkg.name, kernelDir, async (root, keep) => {
        const images = (await readdir(join(root, 'boot'))).filter((f) => f.startsWith('vmlinuz-'));
        if (images.length !== 1 || !images[0]) throw new Error(`expected one boot/vmlinuz-* in ${kernelPkg.name}, found ${images.join(', ')}`);
        await copyFile(join(root, 'boot', images[0]), join(keep, 'vmlinuz'));
      });
      fetched = true;
    }
    if (!existsSync(join(busyboxDir, 'busybox'))) {
      await fetchPackage(cache, 'busybox-static', busyboxDir, async (root, keep) => {
        await copyFile(join(root, 'bin', 'busybox'), join(keep, 'busybox'));
      });
      fetched = true;
    }
  } catch (err) {
    return `cannot fetch the guest's kernel or busybox from Debian into ${cache}: ${String(err)}`;
  }
  return {
    kernel: join(kernelDir, 'vmlinuz'),
    busybox: join(busyboxDir, 'busybox'),
    kernelPackage: `${kernelPkg.name} ${kernelPkg.version}`,
    busyboxPackage: `busybox-static ${busyboxPkg.version}`,
    fetchMs: fetched ? Date.now() - started : 0,
  };
}

async function onPath(tool: string): Promise<boolean> {
  return execFileAsync('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  );
}

/** linux-image-amd64 is a metapackage: the image itself is the versioned package it depends on. */
async function kernelPackageName(): Promise<string> {
  try {
    const { stdout } = await execFileAsync('apt-cache', ['depends', 'linux-image-amd64']);
    const m = /Depends:\s+(linux-image-[\w.+-]+-amd64)\b/.exec(stdout);
    if (m?.[1]) return m[1];
  } catch {
    // Answered below.
  }
  return 'linux-image-amd64';
}

async function candidate(name: string): Promise<{ name: string; version: string } | string> {
  try {
    const { stdout } = await execFileAsync('apt-cache', ['policy', name]);
    const version = /Candidate:\s+(\S+)/.exec(stdout)?.[1];
    if (version && version !== '(none)' && name !== 'linux-image-amd64') return { name, version };
  } catch {
    // Answered below.
  }
  return `apt knows no ${name} package here (run apt-get update)`;
}

/**
 * apt-get download into a scratch folder of the cache, dpkg-deb -x, keep what `keep` copies,
 * and move the result into place in one rename, so two test runs never see half a download.
 */
async function fetchPackage(
  cache: string,
  name: string,
  dest: string,
  keep: (root: string, keepDir: string) => Promise<void>,
): Promise<void> {
  const scratch = await mkdtemp(join(cache, '.fetch-'));
  try {
    // apt drops to the _apt user for downloads; the cache may be a folder only root can write.
    await execFileAsync('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', name], {
      cwd: scratch,
      timeout: 300_000,
      maxBuffer: 16 << 20,
    });
    const debs = (await readdir(scratch)).filter((f) => f.endsWith('.deb'));
    if (debs.length !== 1 || !debs[0]) throw new Error(`apt-get download ${name} left ${debs.join(', ') || 'no .deb'}`);
    const root = join(scratch, 'root');
    await execFileAsync('dpkg-deb', ['-x', join(scratch, debs[0]), root], { timeout: 300_000 });
    const keepDir = join(scratch, 'keep');
    await mkdir(keepDir);
    await keep(root, keepDir);
    await rename(keepDir, dest).catch((err: NodeJS.ErrnoException) => {
      // Another test run got there first: theirs is as good.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface InitramfsOptions {
  /** MiB of pseudo-random contents every guest holds twice (the initramfs file and a tmpfs copy). */
  commonMiB: number;
  /** Seed of those contents, so every run writes the same bytes. */
  seed?: number;
}

/**
 * Builds an uncompressed cpio (newc) initramfs: busybox, /init and the common data. Each guest
 * adds its unique data itself at boot (/dev/urandom), sized by its kernel command line.
 * Returns the file's path; it lives in a temporary folder removed by stopAllGuests().
 */
export async function buildInitramfs(files: GuestBootFiles, opts: InitramfsOptions): Promise<string> {
  const dir = workDir();
  const root = await mkdtemp(join(dir, 'initramfs-'));
  await mkdir(join(root, 'bin'));
  await copyFile(files.busybox, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await writeFile(join(root, 'init'), INIT_SCRIPT, { mode: 0o755 });
  await writeFile(join(root, 'common.bin'), seededBytes(opts.commonMiB << 20, opts.seed ?? 0x5a3e));
  const out = join(dir, `initramfs-${process.pid}-${Date.now()}.cpio`);
  // cpio reads the file names from stdin; sorted, so the archive is the same every run.
  const names = ['.', 'bin', 'bin/busybox', 'common.bin', 'init'].join('\n') + '\n';
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sh', ['-c', `cpio -o -H newc --quiet > '${out}'`], { cwd: root, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`cpio exited ${code}: ${stderr}`))));
    child.stdin.end(names);
  });
  await rm(root, { recursive: true, force: true });
  return out;
}

// Kernel command-line words with '=' that the kernel does not know reach /init as environment
// variables: samepage_guest (the name) and samepage_unique_mib.
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /data
mount -t proc proc /proc
mount -t devtmpfs dev /dev
mount -t tmpfs -o size=90% data /data
cp /common.bin /data/common.bin
dd if=/dev/urandom of=/data/unique.bin bs=65536 count=$((\${samepage_unique_mib:-0} * 16)) 2>/dev/null
echo "${GUEST_READY_MARKER} \${samepage_guest} uptime $(cut -d' ' -f1 /proc/uptime)"
while :; do sleep 3600; done
`;

function seededBytes(length: number, seed: number): Buffer {
  const next = seededUint32(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) out.writeUInt32LE(next(), i);
  return out;
}

export interface GuestSpec {
  name: string;
  memoryMiB: number;
  /** MiB of /dev/urandom contents the guest writes into its tmpfs at boot. */
  uniqueMiB: number;
}

export interface Guest {
  readonly name: string;
  /** The QEMU process: the one to scan. */
  readonly pid: number;
  /** From spawn to the ready line on the serial console. */
  readonly bootMs: number;
  /** The guest's own uptime (seconds) when it printed the ready line: its boot without QEMU's start or a busy host. */
  readonly readyUptimeS: number;
  /** The serial console so far (the last few KiB). */
  console(): string;
}

export interface StartGuestsOptions {
  readyTimeoutMs?: number;
  /**
   * Start QEMU through test/fixtures/merge-exec (prctl PR_SET_MEMORY_MERGE before exec): KSM
   * for the whole process, every compatible VMA (the enable-all scope), not only guest RAM.
   */
  mergeAny?: boolean;
}

export interface GuestSet {
  readonly guests: Guest[];
  readonly pids: number[];
  /** SIGSTOP every guest and wait until each QEMU process (every thread) is stopped. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** SIGKILL every guest and wait until they are gone. */
  stop(): Promise<void>;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

const running = new Set<Running>();
let scratch: string | undefined;

function workDir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'samepage-guests-'));
  return scratch;
}

/**
 * Boots one QEMU guest per spec, all at once, and resolves when every one has printed its ready
 * line. On any failure every guest started here is killed before the error is thrown.
 */
export async function startGuests(
  files: GuestBootFiles,
  initramfs: string,
  specs: GuestSpec[],
  opts: StartGuestsOptions = {},
): Promise<GuestSet> {
  const timeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  // merge-exec sets PR_SET_MEMORY_MERGE and execs QEMU: the pid stays QEMU's.
  const prefix = opts.mergeAny === true ? [await buildFixture('merge-exec')] : [];
  const started: Running[] = [];
  const stopAll = async (): Promise<void> => {
    for (const r of started) killGuest(r);
    await Promise.all(started.map((r) => r.exited));
  };
  try {
    const guests = await Promise.all(specs.map((spec) => bootOne(files, initramfs, spec, timeoutMs, started, prefix)));
    const pids = guests.map((g) => g.pid);
    return {
      guests,
      pids,
      async freeze() {
        for (const pid of pids) process.kill(pid, 'SIGSTOP');
        await waitUntil(() => pids.every(allThreadsStopped), 10_000, 'guests to stop');
      },
      async thaw() {
        for (const pid of pids) process.kill(pid, 'SIGCONT');
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function bootOne(
  files: GuestBootFiles,
  initramfs: string,
  spec: GuestSpec,
  timeoutMs: number,
  started: Running[],
  prefix: string[],
): Promise<Guest> {
  if (!/^[\w-]+$/.test(spec.name)) throw new Error(`bad guest name: ${spec.name}`);
  // no_timer_check: under TCG on a busy host the kernel's IO-APIC timer check can time out
  // and panic ("IO-APIC + timer doesn't work"); a VM needs no such check.
  const args = [
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-accel', 'tcg',
    '-cpu', 'max',
    '-smp', '1',
    '-m', String(spec.memoryMiB),
    '-kernel', files.kernel,
    '-initrd', initramfs,
    '-append', `console=ttyS0 quiet no_timer_check panic=-1 samepage_guest=${spec.name} samepage_unique_mib=${spec.uniqueMiB}`,
    '-serial', 'stdio',
    '-monitor', 'none',
    '-no-reboot',
  ];
  const t0 = Date.now();
  // stdin stays an open pipe: QEMU's stdio console would otherwise read EOF.
  const [command, ...commandArgs] = [...prefix, QEMU, ...args] as [string, ...string[]];
  const child = spawn(command, commandArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
  const entry: Running = {
    child,
    exited: new Promise<void>((resolve) => child.once('close', () => resolve())),
  };
  running.add(entry);
  started.push(entry);
  void entry.exited.then(() => running.delete(entry));

  let text = '';
  const append = (chunk: string): void => {
    text += chunk;
    if (text.length > 2 * CONSOLE_KEEP_CHARS) text = text.slice(-CONSOLE_KEEP_CHARS);
  };
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', append);

  return new Promise<Guest>((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`guest ${spec.name}: ${why}\n--- console ---\n${text.slice(-4000)}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail(`cannot run ${QEMU}: ${err.message}`));
    child.once('exit', (code, signal) => fail(`QEMU exited (${code ?? signal}) before the guest was ready`));
    child.stdout?.on('data', (chunk: string) => {
      append(chunk);
      const ready = new RegExp(`${GUEST_READY_MARKER} ${spec.name} uptime ([\\d.]+)`).exec(text);
      if (settled || !ready) return;
      settled = true;
      clearTimeout(timer);
      const pid = child.pid;
      if (pid === undefined) {
        reject(new Error(`guest ${spec.name}: no pid`));
        return;
      }
      resolve({ name: spec.name, pid, bootMs: Date.now() - t0, readyUptimeS: Number(ready[1]), console: () => text });
    });
  });
}

function killGuest(r: Running): void {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  try {
    // A stopped process dies of SIGKILL too, without SIGCONT.
    r.child.kill('SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Kills every guest this process started and removes the scratch folder (for afterAll). */
export async function stopAllGuests(): Promise<void> {
  const all = [...running];
  for (const r of all) killGuest(r);
  await Promise.all(all.map((r) => r.exited));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
}

function allThreadsStopped(pid: number): boolean {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true; // Gone: nothing left running.
  }
  return tids.every((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      const state = stat.charAt(stat.lastIndexOf(')') + 2);
      return state === 'T' || state === 't' || state === 'Z' || state === 'X';
    } catch {
      return true;
    }
  });
}

async function waitUntil(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A test process that ends without its afterAll (an uncaught error, vitest ending its worker)
// must not leave guests running: they hold a GiB of memory and a CPU each.
process.once('exit', () => {
  for (const r of running) killGuest(r);
});
