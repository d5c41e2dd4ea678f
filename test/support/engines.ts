// The engines a parity test runs over: JavaScript (the reference) always, native where the addon
// is built. Each parity test is one it.each over these.
import type { Engine } from '../../src/engine/engine.js';
import { javascriptEngine } from '../../src/engine/js-engine.js';
import { nativeEngine } from '../../src/engine/native-engine.js';
import { nativeAddon } from '../../src/native/native-addon.js';

const native = nativeAddon();

export const ENGINES: ReadonlyArray<readonly [string, Engine]> = [
  ['javascript', javascriptEngine()],
  ...(native === null ? [] : [['native', nativeEngine(native)] as const]),
];

export const REFERENCE_ENGINE: Engine = javascriptEngine();
