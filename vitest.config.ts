import { defineConfig } from "vitest/config";

// The real-Xen rig (one QEMU boot, single-threaded TCG, ~4 minutes) runs after
// everything else, on an otherwise idle machine: sharing the 2 cores with the
// other test files, its Linux guests booted up to six times slower and once
// hung or panicked under TCG, and the run was cut off.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: "simulated",
          include: ["test/**/*.test.ts"],
          exclude: ["test/real-xen/**"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: "real-xen", include: ["test/real-xen/**/*.test.ts"], sequence: { groupOrder: 1 } },
      },
    ],
  },
});
