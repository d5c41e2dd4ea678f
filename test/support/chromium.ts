// Launches a real headless Chromium for tests: a fresh profile, a small local web site
// served on 127.0.0.1, `tabs` tabs each in its own renderer process, optionally with every
// process made KSM-mergeable by test/fixtures/merge-exec.c (prctl PR_SET_MEMORY_MERGE).
//
// Every process of a session carries SAMEPAGE_CHROMIUM_SESSION=<random id> in its
// environment, which is how processes that left the browser's process tree (crashpad
// handlers double-fork and are reparented to init) are still found and killed. Cleanup runs
// on close(), on process 'exit', on SIGINT/SIGTERM/SIGHUP, and, if this Node process dies
// without running any of those (SIGKILL, OOM), from a small detached watchdog shell.

import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Chromium binary the harness starts (Debian's launcher script). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** True when CHROMIUM_PATH exists; use it to skip browser tests. */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const SITE_DIR = join(FIXTURES, 'site');
const MERGE_EXEC_SRC = join(FIXTURES, 'merge-exec.c');
const MARKER_KEY = 'SAMEPAGE_CHROMIUM_SESSION';

/**
 * Default settle time after the pages have loaded. Measured with Debian's chromium 156 and
 * the fixture site (4 tabs): a renderer's Pss_Anon drops from about 55 to 41 MiB 15-35 s
 * after load (V8's memory reducer), then drifts by 1-2 MiB at most. About 3 minutes after
 * launch the browser starts one more process (utility on_device_model, ~6 MiB); while the
 * browser is frozen that start is delayed until thaw().
 */
export const DEFAULT_SETTLE_MS = 60_000;

export interface LaunchOptions {
  /** Number of tabs of the local site, each in its own renderer process. */
  tabs: number;
  /** Start Chromium through merge-exec so every process is KSM-mergeable. */
  mergeAny: boolean;
  /** Wait this long after all pages loaded (default DEFAULT_SETTLE_MS). */
  settleMs?: number;
  /** URL parameters for the site's page (test/fixtures/site/app.js), e.g. 'live=1' for a page that keeps running. */
  query?: string;
}

/** What the fixture page reports about itself once it has built its data. */
export interface PageStats {
  seed: number;
  mib: number;
  records: number;
  nodes: number;
}

export interface ChromiumSession {
  /** The browser process (the pid spawned; merge-exec and the launcher script exec into it). */
  readonly browserPid: number;
  /** DevTools port on 127.0.0.1. */
  readonly debuggingPort: number;
  /** URL of the page every tab loaded. */
  readonly siteUrl: string;
  /** Temporary folder holding the profile, HOME, XDG_* and TMPDIR of the browser. */
  readonly tempDir: string;
  /** What each tab's page reported once ready, in tab order. */
  readonly pages: readonly PageStats[];
  /** Milliseconds spent: starting the browser, opening and loading the tabs, settling. */
  readonly timings: { readonly startMs: number; readonly loadMs: number; readonly settleMs: number };
  /** Live (non-zombie) processes of this browser: the browser, its descendants, and
   *  processes that left the tree (crashpad handlers). Sorted. */
  pids(): number[];
  /** The subset of pids() whose command line has --type=renderer. */
  rendererPids(): number[];
  /** SIGSTOP every process of the browser, so memory stops changing (the processes can
   *  no longer touch it; KSM, if running, still merges mergeable pages). */
  freeze(): void;
  /** SIGCONT every process of the browser. */
  thaw(): void;
  /** Kill every process (SIGKILL), remove the temp folder, stop the HTTP server. Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// /proc helpers

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  start: string; // starttime (field 22): tells a pid apart from a later reuse of it
}

function readStat(pid: number): ProcInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  const state = f[0];
  const ppid = Number(f[1]);
  const start = f[19];
  if (state === undefined || start === undefined || !Number.isInteger(ppid)) return undefined;
  return { pid, ppid, comm, state, start };
}

function allProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = readStat(Number(name));
    if (info) out.push(info);
  }
  return out;
}

function isDead(info: ProcInfo | undefined): boolean {
  return info === undefined || info.state === 'Z' || info.state === 'X';
}

/** The command line of a process as one string (NUL or space separated), '' if gone. */
export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

/**
 * Chromium process type from the command line: 'browser', 'renderer', 'zygote',
 * 'gpu-process', 'utility:<sub-type>', 'crashpad-handler', or '?' for a vanished process.
 */
export function chromiumProcessType(pid: number): string {
  const cmd = readCmdline(pid);
  if (cmd === '') return '?';
  if (/chrome_crashpad_handler|ptype=crashpad-handler/.test(cmd)) return 'crashpad-handler';
  const type = /(?:^|\s)--type=(\S+)/.exec(cmd)?.[1];
  if (type === undefined) return 'browser';
  if (type === 'utility') {
    const sub = /(?:^|\s)--utility-sub-type=(\S+)/.exec(cmd)?.[1];
    return sub === undefined ? 'utility' : `utility:${sub}`;
  }
  return type;
}

function hasMarker(pid: number, marker: Buffer): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`).includes(marker);
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Minimal WebSocket client (RFC 6455) for the DevTools protocol: masked text frames out;
// text, continuation, ping and close frames in, any length.

interface CdpMessage {
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
  sessionId?: string;
}

class Cdp {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.fail(new Error('DevTools connection closed')));
    socket.on('error', (e) => this.fail(e));
  }

  static connect(wsUrl: string, timeoutMs = 10_000): Promise<Cdp> {
    const url = new URL(wsUrl);
    const key = randomBytes(16).toString('base64');
    const expected = createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    return new Promise((resolvePromise, reject) => {
      const req = request({
        host: url.hostname,
        port: Number(url.port),
        path: url.pathname + url.search,
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': key,
        },
        timeout: timeoutMs,
      });
      req.on('upgrade', (res, socket, head) => {
        if (res.headers['sec-websocket-accept'] !== expected) {
          socket.destroy();
          reject(new Error('DevTools WebSocket handshake: bad Sec-WebSocket-Accept'));
          return;
        }
        socket.setNoDelay(true);
        const cdp = new Cdp(socket);
        if (head.length > 0) cdp.onData(head);
        resolvePromise(cdp);
      });
      req.on('response', (res) => {
        res.resume();
        reject(new Error(`DevTools WebSocket handshake: HTTP ${res.statusCode}`));
      });
      req.on('timeout', () => req.destroy(new Error('DevTools WebSocket handshake timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  send<T>(method: string, params: object = {}, sessionId?: string, timeoutMs = 30_000): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const msg: CdpMessage & { params: object } = { id, method, params };
    if (sessionId !== undefined) msg.sessionId = sessionId;
    return new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`DevTools ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolvePromise as (v: unknown) => void, reject, timer });
      this.writeFrame(0x1, Buffer.from(JSON.stringify(msg), 'utf8'));
    });
  }

  close(): void {
    this.fail(new Error('DevTools connection closed'));
    this.socket.destroy();
  }

  private writeFrame(opcode: number, payload: Buffer): void {
    const len = payload.length;
    const header =
      len < 126 ? Buffer.alloc(2) : len < 0x10000 ? Buffer.alloc(4) : Buffer.alloc(10);
    header[0] = 0x80 | opcode; // FIN + opcode
    if (len < 126) {
      header[1] = 0x80 | len;
    } else if (len < 0x10000) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    const mask = randomBytes(4);
    const body = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!;
    this.socket.write(Buffer.concat([header, mask, body]));
  }

  private onData(data: Buffer): void {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      const maskKey = masked ? b.subarray(off, off + 4) : undefined;
      if (masked) off += 4;
      if (b.length < off + len) return;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (maskKey) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ maskKey[i & 3]!;
      this.buf = b.subarray(off + len);

      if (opcode === 0x8) {
        this.close();
        return;
      } else if (opcode === 0x9) {
        this.writeFrame(0xa, payload);
      } else if (opcode === 0x0 || opcode === 0x1 || opcode === 0x2) {
        this.fragments.push(payload);
        if (fin) {
          const text = Buffer.concat(this.fragments).toString('utf8');
          this.fragments = [];
          this.onMessage(text);
        }
      }
    }
  }

  private onMessage(text: string): void {
    let msg: CdpMessage;
    try {
      msg = JSON.parse(text) as CdpMessage;
    } catch {
      return;
    }
    if (msg.id === undefined) return; // events are not needed
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new Error(`DevTools error ${msg.error.code}: ${msg.error.message}`));
    else p.resolve(msg.result);
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

// ---------------------------------------------------------------------------------------
// Static site server

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function serveSite(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      path = '/';
    }
    if (path.endsWith('/')) path += 'index.html';
    const file = resolve(SITE_DIR, '.' + path);
    const type = CONTENT_TYPES[extname(file)];
    if (!file.startsWith(SITE_DIR + sep) || type === undefined || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, {
          'Content-Type': type,
          'Content-Length': body.length,
          'Cache-Control': 'no-store',
        });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') {
        reject(new Error('HTTP server has no port'));
        return;
      }
      resolvePromise({ server, port: addr.port });
    });
  });
}

// ---------------------------------------------------------------------------------------
// Cleanup registry: sessions still open when the process exits or is signalled.

const openSessions = new Set<Session>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const s of openSessions) s.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const s of openSessions) s.destroySync();
      // Nobody else handles it: re-raise, with the default action now restored.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

// Runs detached; when this Node process is gone, kills every process carrying the marker
// and removes the temp folder. close() kills it first.
const WATCHDOG_SCRIPT = `
parent=$1; marker=$2; dir=$3
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
for round in 1 2 3; do
  for f in /proc/[0-9]*/environ; do
    if grep -qaF "$marker" "$f" 2>/dev/null; then p=\${f#/proc/}; kill -KILL "\${p%/environ}" 2>/dev/null; fi
  done
  sleep 1
done
rm -rf "$dir"
`;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolvePromise();
    });
  });
}

class Session implements ChromiumSession {
  browserPid = 0;
  debuggingPort = 0;
  siteUrl = '';
  readonly tempDir: string;
  pages: PageStats[] = [];
  timings = { startMs: 0, loadMs: 0, settleMs: 0 };

  private readonly marker: Buffer;
  private readonly markerText: string;
  private readonly known = new Map<number, string>(); // pid -> starttime, every pid ever seen
  private child: ChildProcess | undefined;
  private childExited: Promise<void> = Promise.resolve();
  private watchdog: ChildProcess | undefined;
  private server: Server | undefined;
  private cdp: Cdp | undefined;
  private stderrTail = '';
  private closed = false;

  constructor() {
    this.markerText = `${MARKER_KEY}=${randomBytes(12).toString('hex')}`;
    this.marker = Buffer.from(this.markerText + '\0');
    this.tempDir = mkdtempSync(join(tmpdir(), 'samepage-chromium-'));
    openSessions.add(this);
    installHooks();
  }

  async start(opts: LaunchOptions): Promise<void> {
    const t0 = Date.now();
    const dirs = {
      profile: join(this.tempDir, 'profile'),
      home: join(this.tempDir, 'home'),
      config: join(this.tempDir, 'home', '.config'),
      cache: join(this.tempDir, 'home', '.cache'),
      data: join(this.tempDir, 'home', '.local', 'share'),
      tmp: join(this.tempDir, 'tmp'),
      bin: join(this.tempDir, 'bin'),
    };
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });

    this.watchdog = spawn(
      '/bin/sh',
      ['-c', WATCHDOG_SCRIPT, 'samepage-watchdog', String(process.pid), this.markerText, this.tempDir],
      { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    this.watchdog.unref();

    const command: string[] = [];
    if (opts.mergeAny) {
      const exe = join(dirs.bin, 'merge-exec');
      await run('cc', ['-O2', '-Wall', '-o', exe, MERGE_EXEC_SRC]);
      command.push(exe);
    }
    const site = await serveSite();
    this.server = site.server;
    this.siteUrl = `http://127.0.0.1:${site.port}/index.html${opts.query === undefined ? '' : `?${opts.query}`}`;

    command.push(
      CHROMIUM_PATH,
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // No idle spare renderer, and no WebUI renderer for the omnibox popup (Chromium 156
      // preloads one even headless): the only renderers are the tabs'.
      '--disable-features=SpareRendererForSitePerProcess,WebUIOmniboxPopup,WebUIOmniboxAimPopup',
      `--user-data-dir=${dirs.profile}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      'about:blank',
    );
    const [file, ...args] = command as [string, ...string[]];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: dirs.home,
      XDG_CONFIG_HOME: dirs.config,
      XDG_CACHE_HOME: dirs.cache,
      XDG_DATA_HOME: dirs.data,
      TMPDIR: dirs.tmp,
      [MARKER_KEY]: this.markerText.slice(MARKER_KEY.length + 1),
    };
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'], env });
    this.child = child;
    this.childExited = new Promise((r) => child.once('exit', () => r()));
    let exitInfo: string | undefined;
    child.once('exit', (code, sig) => (exitInfo = `exited with ${sig ?? `code ${code}`}`));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-16_384);
    });
    await new Promise<void>((r, reject) => {
      child.once('spawn', () => r());
      child.once('error', reject);
    });
    if (child.pid === undefined) throw new Error('Chromium did not start');
    this.browserPid = child.pid;
    this.remember(this.browserPid);

    // The DevTools endpoint: DevToolsActivePort ("port\n/devtools/browser/<id>") or stderr.
    const portFile = join(dirs.profile, 'DevToolsActivePort');
    let wsUrl: string | undefined;
    for (const deadline = Date.now() + 60_000; wsUrl === undefined; await sleep(100)) {
      if (exitInfo !== undefined) throw new Error(`Chromium ${exitInfo}:\n${this.stderrTail}`);
      if (Date.now() > deadline) throw new Error(`no DevTools port after 60 s:\n${this.stderrTail}`);
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(this.stderrTail);
      if (m?.[1] !== undefined) {
        wsUrl = m[1];
      } else if (existsSync(portFile)) {
        const [port, path] = readFileSync(portFile, 'utf8').split('\n');
        if (port && path) wsUrl = `ws://127.0.0.1:${port}${path}`;
      }
    }
    this.debuggingPort = Number(new URL(wsUrl).port);
    const cdp = await Cdp.connect(wsUrl);
    this.cdp = cdp;
    this.timings.startMs = Date.now() - t0;

    // Open the tabs, each in a new window, which gives each its own renderer process.
    const t1 = Date.now();
    const targetIds: string[] = [];
    for (let i = 0; i < opts.tabs; i++) {
      const r = await cdp.send<{ targetId: string }>('Target.createTarget', {
        url: this.siteUrl,
        newWindow: true,
      });
      targetIds.push(r.targetId);
    }
    this.pages = await Promise.all(targetIds.map((id) => this.waitReady(cdp, id)));
    // Close the initial about:blank tab so only the site's renderers remain.
    const { targetInfos } = await cdp.send<{
      targetInfos: { targetId: string; type: string; url: string }[];
    }>('Target.getTargets');
    for (const t of targetInfos) {
      if (t.type === 'page' && !targetIds.includes(t.targetId)) {
        await cdp.send('Target.closeTarget', { targetId: t.targetId });
      }
    }
    cdp.close();
    this.cdp = undefined;

    // One renderer per tab, and no other (an about:blank renderer takes a moment to exit).
    let renderers = this.rendererPids();
    for (const deadline = Date.now() + 15_000; renderers.length !== opts.tabs; await sleep(250)) {
      if (Date.now() > deadline) {
        const list = this.pids().map((p) => `  ${p} ${chromiumProcessType(p)}`).join('\n');
        throw new Error(
          `expected ${opts.tabs} renderer processes, found ${renderers.length}:\n${list}`,
        );
      }
      renderers = this.rendererPids();
    }
    this.timings.loadMs = Date.now() - t1;

    const settle = opts.settleMs ?? DEFAULT_SETTLE_MS;
    await sleep(settle);
    this.timings.settleMs = settle;
  }

  private async waitReady(cdp: Cdp, targetId: string): Promise<PageStats> {
    const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', {
      targetId,
      flatten: true,
    });
    try {
      for (const deadline = Date.now() + 60_000; ; await sleep(200)) {
        const r = await cdp.send<{ result: { value?: unknown } }>(
          'Runtime.evaluate',
          {
            expression: 'window.samepageReady === true && JSON.stringify(window.samepageStats)',
            returnByValue: true,
          },
          sessionId,
        );
        if (typeof r.result.value === 'string') return JSON.parse(r.result.value) as PageStats;
        if (Date.now() > deadline) throw new Error(`page ${this.siteUrl} not ready after 60 s`);
      }
    } finally {
      await cdp.send('Target.detachFromTarget', { sessionId }).catch(() => undefined);
    }
  }

  private remember(pid: number): void {
    const info = readStat(pid);
    if (info && !this.known.has(pid)) this.known.set(pid, info.start);
  }

  pids(): number[] {
    const procs = allProcs();
    const byPid = new Map(procs.map((p) => [p.pid, p]));
    const children = new Map<number, number[]>();
    for (const p of procs) {
      const list = children.get(p.ppid);
      if (list) list.push(p.pid);
      else children.set(p.ppid, [p.pid]);
    }
    const found = new Set<number>();
    const addTree = (root: number): void => {
      const stack = [root];
      while (stack.length > 0) {
        const pid = stack.pop()!;
        if (found.has(pid)) continue;
        found.add(pid);
        stack.push(...(children.get(pid) ?? []));
      }
    };
    const browser = byPid.get(this.browserPid);
    if (this.browserPid > 0 && browser && this.known.get(this.browserPid) === browser.start) {
      addTree(this.browserPid);
    }
    for (const p of procs) {
      if (found.has(p.pid) || isDead(p)) continue;
      // Seen before (same start time), or a Chromium process (chromium, chrome_crashpad_*)
      // carrying the session marker: a process of ours that left the tree.
      if (this.known.get(p.pid) === p.start) addTree(p.pid);
      else if (p.comm.startsWith('chrom') && hasMarker(p.pid, this.marker)) addTree(p.pid);
    }
    const live: number[] = [];
    for (const pid of found) {
      const info = byPid.get(pid);
      if (!info || isDead(info)) continue;
      if (!this.known.has(pid)) this.known.set(pid, info.start);
      live.push(pid);
    }
    return live.sort((a, b) => a - b);
  }

  rendererPids(): number[] {
    return this.pids().filter((pid) => /(?:^|\s)--type=renderer(?:\s|$)/.test(readCmdline(pid)));
  }

  freeze(): void {
    // Repeat until no process appears that was not stopped (a fork racing the first pass).
    const stopped = new Set<number>();
    for (let round = 0; round < 5; round++) {
      const pids = this.pids().filter((p) => !stopped.has(p));
      if (pids.length === 0) break;
      for (const pid of pids) {
        signal(pid, 'SIGSTOP');
        stopped.add(pid);
      }
    }
  }

  thaw(): void {
    for (const pid of this.pids()) signal(pid, 'SIGCONT');
  }

  /** Synchronous kill of everything (for the exit hook); close() builds on it. */
  destroySync(): void {
    this.cdp?.close();
    this.cdp = undefined;
    for (let round = 0; round < 3; round++) {
      // The browser's process group holds the browser, zygotes and their children; it
      // cannot be reused while any member lives, so killing it never hits a stranger.
      if (this.browserPid > 0) signal(-this.browserPid, 'SIGKILL');
      const pids = this.pids();
      if (pids.length === 0) break;
      for (const pid of pids) signal(pid, 'SIGKILL');
    }
    this.server?.closeAllConnections();
    this.server?.close();
    this.server = undefined;
    try {
      rmSync(this.tempDir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // the watchdog removes it otherwise
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.destroySync();
      // Wait until every process is gone (zombies are reaped by init; they hold no memory).
      let left = this.pids();
      for (const deadline = Date.now() + 15_000; left.length > 0; left = this.pids()) {
        if (Date.now() > deadline) {
          throw new Error(`Chromium processes survived SIGKILL: ${left.join(' ')}`);
        }
        for (const pid of left) signal(pid, 'SIGKILL');
        await sleep(100);
      }
      await Promise.race([this.childExited, sleep(5_000)]);
      rmSync(this.tempDir, { recursive: true, force: true, maxRetries: 3 });
    } finally {
      if (this.watchdog?.pid !== undefined) signal(-this.watchdog.pid, 'SIGKILL');
      openSessions.delete(this);
    }
  }
}

/**
 * Starts headless Chromium on the fixture site with `tabs` tabs, waits until every page has
 * built its data, then waits settleMs more. On failure everything started is cleaned up.
 */
export async function launchChromium(opts: LaunchOptions): Promise<ChromiumSession> {
  if (!Number.isInteger(opts.tabs) || opts.tabs < 1) {
    throw new Error(`tabs must be a positive integer, got ${opts.tabs}`);
  }
  const session = new Session();
  try {
    await session.start(opts);
  } catch (err) {
    await session.close();
    throw err;
  }
  return session;
}
