// tap.mjs - the "ok - ..." / "not ok - ..." lines the integration tests
// count, shared by the Node.js test clients in tests/node/*/. Import it
// with a relative path ("../tap.mjs"); end with process.exit(tap.exitCode()).
let fails = 0;

export const ok = (m) => console.log(`ok - ${m}`);
export const notOk = (m) => {
  fails++;
  console.log(`not ok - ${m}`);
};
export const check = (cond, m) => (cond ? ok(m) : notOk(m));
// p, or a rejection naming what after ms milliseconds
export const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: timeout`)), ms))]);
export const exitCode = () => (fails ? 1 : 0);
