// Bounded polling, the one way the tests wait for something to happen (never a sleep).

/** Polls `fn` until it returns a truthy value; fails after `timeout` ms. */
export async function until(fn, { timeout = 15000, interval = 25, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
