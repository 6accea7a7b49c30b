// A clock tests move by hand, the one the demo server's and the broker's tests inject as
// `now`: tokens expire without anyone sleeping.

/** Starts at `start` (epoch ms) and moves only by `advance(ms)`. */
export function virtualClock(start = Date.UTC(2026, 0, 15, 9, 0, 0)) {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}
