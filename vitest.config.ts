import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql ships CJS and ESM copies; Node (and the Pothos/yoga CJS builds) load the CJS one.
    // Loading both would make two GraphQLError classes, so tests resolve it the way Node does.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only make the embedded databases fight for CPU.
    maxWorkers: 2,
  },
});
