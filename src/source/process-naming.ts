// How a process is named, from its command line: shared by live processes and core dumps.

/** cmdline is NUL-separated, but a process may rewrite it as one space-separated string. */
export function splitCmdline(raw: string): string[] {
  const trimmed = raw.endsWith('\0') ? raw.slice(0, -1) : raw;
  if (trimmed === '') return [];
  const parts = trimmed.split('\0');
  if (parts.length === 1) return trimmed.split(' ').filter((p) => p !== '');
  return parts;
}

const CHROMIUM_EXE = /(^|\/)(chromium|chromium-browser|chrome|google-chrome|headless_shell|chrome_crashpad_handler|msedge|brave|electron)([-_.][\w.-]*)?$/i;

/**
 * Chromium's process type: the --type= switch, "browser" when a Chromium executable has none.
 * Null for anything that is not Chromium.
 */
export function chromiumProcessType(command: string, args: readonly string[]): string | null {
  let type: string | null = null;
  let subType: string | null = null;
  for (const a of args) {
    if (a.startsWith('--type=')) type = a.slice(7);
    else if (a.startsWith('--utility-sub-type=')) subType = a.slice(19);
  }
  if (type !== null) return subType !== null && type === 'utility' ? `utility:${subType}` : type;
  const exe = args[0] ?? '';
  if (CHROMIUM_EXE.test(exe) || /^(chromium|chrome)$/i.test(command)) return 'browser';
  return null;
}
