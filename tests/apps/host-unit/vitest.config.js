// Vitest 4: the same suite under jsdom and under happy-dom (two projects).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "jsdom", environment: "jsdom", include: ["test/vitest.test.js"] } },
      { test: { name: "happy-dom", environment: "happy-dom", include: ["test/vitest.test.js"] } },
    ],
  },
});
