import { test, beforeAll, afterEach, jest } from "@jest/globals";
import { suite } from "./suite.js";

suite({
  test,
  beforeAll,
  afterEach,
  timers: {
    useFake: () => jest.useFakeTimers(),
    useReal: () => jest.useRealTimers(),
    advance: (ms) => jest.advanceTimersByTimeAsync(ms),
  },
});
