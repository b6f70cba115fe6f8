import { configDefaults, defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';

export default defineConfig({
  resolve: {
    // graphql ships CJS and ESM copies; Node (and the Pothos/yoga CJS builds) load the CJS one.
    // Loading both would make two GraphQLError classes, so tests resolve it the way Node does.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only make the embedded databases fight for CPU.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['tests/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'tests/web/**'],
          globalSetup: ['tests/support/global-setup.ts'],
        },
      },
      {
        // The console in headless Chromium against a real server; builds web/dist first if stale.
        extends: true,
        test: {
          name: 'browser',
          include: ['tests/web/*.test.ts'],
          globalSetup: ['tests/support/global-setup.ts', 'tests/web/global-setup.ts'],
        },
      },
      {
        // Svelte components in jsdom.
        extends: true,
        plugins: [svelte({ configFile: 'web/svelte.config.js' }), svelteTesting()],
        test: {
          name: 'web',
          include: ['web/src/**/*.test.ts'],
          environment: 'jsdom',
        },
      },
    ],
  },
});
