import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { schemaIntrospection } from './schema-introspection.ts';

// The console is a plain SPA: the server serves web/dist at / with a fallback to index.html,
// so client-side routes (history API) survive a reload. In dev, /graphql (HTTP and graphql-ws)
// goes to a server started with `npm start` on :4000.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [svelte(), schemaIntrospection()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    proxy: {
      '/graphql': { target: 'http://localhost:4000', ws: true },
      // VM consoles (WebSocket only).
      '/console/': { target: 'ws://localhost:4000', ws: true },
    },
  },
});
