import { test, beforeAll, afterEach, vi } from "vitest";
import { suite } from "./suite.js";

suite({
  test,
  beforeAll,
  afterEach,
  timers: {
    useFake: () => vi.useFakeTimers(),
    useReal: () => vi.useRealTimers(),
    advance: (ms) => vi.advanceTimersByTimeAsync(ms),
  },
});
