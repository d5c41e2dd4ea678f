import { nativeAddon, nativeAddonProblem } from '../native/native-addon.js';
import type { Engine } from './engine.js';
import { javascriptEngine } from './js-engine.js';
import { nativeEngine } from './native-engine.js';

let chosen: Engine | null = null;

/**
 * The engine for this run: native where the addon is built and current, else JavaScript
 * (SAMEPAGE_NO_NATIVE=1 asks for JavaScript). Chosen once; the same engine every time after.
 */
export function chooseEngine(): Engine {
  if (chosen === null) {
    const native = nativeAddon();
    chosen = native === null ? javascriptEngine() : nativeEngine(native);
  }
  return chosen;
}

/** Why an addon that is there is not used, or null: the CLI says it once. */
export function engineProblem(): string | null {
  return nativeAddonProblem();
}

export type { Engine } from './engine.js';
