// cgroups a test makes under the cgroup v2 (unified) mount, puts processes in, and removes.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where cgroup2 is mounted (on a v1/v2 hybrid, the unified hierarchy), or null. */
export function cgroup2Mount(): string | null {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // ... mount point is field 5; after " - " come the type and source.
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined || !right.startsWith('cgroup2 ')) continue;
    const mountPoint = left.split(' ')[4];
    if (mountPoint !== undefined) return mountPoint;
  }
  return null;
}

export interface TestCgroups {
  /** Makes the cgroup (and its missing parents) at this path, relative to the mount: "/system.slice/x.service". */
  make(path: string): void;
  /** Moves a process into a cgroup made by make(). */
  move(pid: number, path: string): void;
  /** Removes what make() created, deepest first (the processes must be gone); parents that existed stay. */
  remove(): void;
}

export function testCgroups(mount: string): TestCgroups {
  const created: string[] = [];
  return {
    make(path) {
      let at = mount;
      for (const part of path.split('/').filter((p) => p !== '')) {
        at = join(at, part);
        if (!existsSync(at)) {
          mkdirSync(at);
          created.push(at);
        }
      }
    },
    move(pid, path) {
      writeFileSync(join(mount, path, 'cgroup.procs'), `${pid}\n`);
    },
    remove() {
      for (const dir of created.reverse()) {
        try {
          rmdirSync(dir);
        } catch {
          // Another test's cgroup below a parent we made (system.slice), or a process still leaving: leave it.
        }
      }
      created.length = 0;
    },
  };
}
