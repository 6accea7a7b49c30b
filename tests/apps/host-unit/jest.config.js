// Jest 30 + jsdom, native ESM (run with node --experimental-vm-modules): no transform.
// mdh-token/testing in setupFiles: it supplies what Jest's jsdom lacks (docs/testing.md).
export default {
  testEnvironment: "jsdom",
  testMatch: ["<rootDir>/test/jest.test.js"],
  setupFiles: ["mdh-token/testing"],
  transform: {},
};
