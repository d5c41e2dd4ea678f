import { defineConfig } from 'vitest/config';

// Two tiers (README): `npm run test:unit` runs the unit project alone, `npm test` both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          // No root, no KSM, gdb, QEMU or Chromium: built cores, recorded indexes, texts, the
          // command line, and at most the user's own child processes. Files run in parallel, one
          // per CPU (vitest's default leaves one CPU out).
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          maxWorkers: '100%',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          // Tests drive real processes and the real kernel KSM: give them room, and run files one
          // after another so two files never fight over system-wide KSM or the two cores. After
          // the unit project (groupOrder), never beside it.
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
