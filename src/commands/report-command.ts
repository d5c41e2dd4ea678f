import { performance } from 'node:perf_hooks';
import { closeSync, openSync, readSync } from 'node:fs';
import type { Selection } from '../live/select.js';
import { runScan, type SourceOpener } from '../scan/scan.js';
import { SnapshotFile, isSnapshot } from '../snapshot/snapshot-source.js';
import type { KsmSettings } from '../analysis/ksm-settings.js';
import { systemPageSize } from '../util/system.js';
import { UserError, errnoCode } from '../util/errors.js';
import { effectiveSettings, hasSelection, liveOpeners, printReport, progressFor, type Io, type OutputOptions, type WhatIf } from './common.js';
import { openCoreFile } from './core-files.js';

export interface ReportCommandOptions extends OutputOptions, WhatIf {
  files: string[];
  selection: Selection;
  threads: number;
  progress: boolean;
}

/**
 * samepage report: snapshots and core dumps (and live processes, when selected) analysed
 * together with the same model and the same output as a live scan.
 */
export async function reportCommand(opts: ReportCommandOptions, io: Io): Promise<number> {
  if (opts.files.length === 0) throw new UserError('report needs at least one snapshot or core file');
  const openers: SourceOpener[] = [];
  const snapshots: SnapshotFile[] = [];
  let pageSize: number | null = null;
  let settings: KsmSettings | null = null;
  let root = false;
  const live = hasSelection(opts.selection) ? liveOpeners(opts.selection, opts.threads, io) : null;
  try {
    if (live !== null) {
      pageSize = live.pageSize;
      root = live.root;
      openers.push(...live.openers);
    }
    for (const file of opts.files) {
      const head = readHead(file);
      if (isSnapshot(head)) {
        const snap = new SnapshotFile(file);
        snapshots.push(snap);
        const ps = snap.header.host.pageSize;
        if (pageSize !== null && ps !== pageSize) throw new UserError(`${file}: page size ${ps} differs from the other sources' ${pageSize}`);
        pageSize = ps;
        // A snapshot alone is analysed with the settings it was taken with.
        if (live === null && settings === null) {
          settings = snap.header.ksm;
          root = snap.header.host.root;
        }
        openers.push(...snap.openers());
      } else {
        const core = openCoreFile(file, head, pageSize);
        pageSize ??= core.pageSize;
        openers.push(core.opener);
      }
    }
    const chosen = effectiveSettings(settings, opts, io);
    const progress = await progressFor(opts.progress, io);
    const began = (await live?.readRegionsAhead()) ?? performance.now();
    const scan = runScan(openers, { pageSize: pageSize ?? systemPageSize(), settings: chosen, progress, began, notScanned: live?.notScanned ?? [] });
    return await printReport(scan, root, opts, io);
  } finally {
    for (const s of snapshots) s.release();
    live?.close();
  }
}

function readHead(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new UserError(`${file}: cannot open: ${errnoCode(err) ?? (err as Error).message}`);
  }
  try {
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n);
  } catch (err) {
    throw new UserError(`${file}: cannot read: ${errnoCode(err) ?? (err as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
