// The systemd unit a cgroup v2 path names, worked out from the path alone: samepage does not ask
// systemd (many hosts, and the machines samepage is tested on, run none).

/**
 * The unit of a cgroup path, as systemd lays them out: the first component that is a service or
 * a scope (`/system.slice/nginx.service` -> `nginx.service`; a delegated subtree below it, as a
 * container manager makes, still belongs to it; `/user.slice/user-1000.slice/session-2.scope` ->
 * `session-2.scope`); else the innermost slice (`/system.slice` -> `system.slice`; the root
 * cgroup `/` -> `-.slice`, systemd's name for it); else, when the path has no systemd-style
 * name at all (`/docker/ab12...`, `/kubepods/...`, cgroups made by hand), the path itself.
 */
export function unitOfCgroup(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0) return '-.slice';
  for (const p of parts) if (/\.(service|scope)$/.test(p)) return p;
  let slice: string | null = null;
  for (const p of parts) {
    if (p.endsWith('.slice')) slice = p;
    else break;
  }
  return slice !== null && slice === parts[parts.length - 1] ? slice : path;
}

/** Whether the unit is one systemd's MemoryKSM= can be set on (a service; scopes are made at run time). */
export function isServiceUnit(unit: string): boolean {
  return /^[^/]+\.service$/.test(unit);
}
