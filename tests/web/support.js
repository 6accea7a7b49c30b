// The JS helpers of the shell tests (tests/web/support.rs declares them).
export function tick(ms) { return new Promise((r) => setTimeout(r, ms)); }
export function deferred() {
  let res, rej;
  const p = new Promise((a, b) => ((res = a), (rej = b)));
  return [p, res, rej];
}
export function noop() { return () => {}; }
// Calls o[name](...args) and returns what it threw (undefined when it returned).
export function thrown(o, name, args) {
  try {
    o[name](...args);
  } catch (e) {
    return e;
  }
}
// How many requests for Web Locks named prefix… are held and pending: [held, pending].
export function locks(prefix) {
  const mine = (l) => l.name.startsWith(prefix);
  return navigator.locks.query().then((s) => [s.held.filter(mine).length, s.pending.filter(mine).length]);
}
export function isTrap(e) { return e instanceof WebAssembly.RuntimeError; }
// The next read of performance.now() runs boom() instead (once): a bug at a place every
// way into a manager passes, its clock. What boom() throws, the wasm trap of a panic,
// is kept in the returned record on its way out through the manager.
export function breakNextClockRead(boom) {
  const seen = { trap: undefined, calls: 0 };
  performance.now = function () {
    delete performance.now;
    seen.calls++;
    try {
      return boom();
    } catch (e) {
      seen.trap = e;
      throw e;
    }
  };
  seen.restore = () => { delete performance.now; };
  return seen;
}
