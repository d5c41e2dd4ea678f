import { expect } from 'vitest';

/**
 * Equal, but for the last bits of the fractional shares (RAM freed and duplicates split among
 * mappings): the native pass adds the contents it hands back to JavaScript in another order, and
 * floating-point addition depends on the order.
 */
export function expectSameModel(actual: unknown, expected: unknown): void {
  const differences: string[] = [];
  const walk = (a: unknown, e: unknown, path: string): void => {
    if (typeof e === 'number') {
      if (typeof a !== 'number' || !(Math.abs(a - e) <= 1e-9 * Math.max(1, Math.abs(e)))) differences.push(`${path}: ${String(a)} != ${e}`);
    } else if (e instanceof Float64Array || Array.isArray(e)) {
      const arr = a as ArrayLike<unknown>;
      if ((arr as { length?: number }).length !== e.length) differences.push(`${path}: length ${String((arr as { length?: number }).length)} != ${e.length}`);
      else for (let i = 0; i < e.length; i++) walk(arr[i], e[i], `${path}[${i}]`);
    } else if (typeof e === 'object' && e !== null) {
      for (const key of new Set([...Object.keys(e), ...Object.keys(a as object)])) walk((a as Record<string, unknown>)[key], (e as Record<string, unknown>)[key], `${path}.${key}`);
    } else if (a !== e) differences.push(`${path}: ${String(a)} != ${String(e)}`);
  };
  walk(actual, expected, 'model');
  expect(differences.slice(0, 20)).toEqual([]);
}
