/**
 * The package's root folder (where package.json, migrations/ and web/dist are), as a file URL.
 * This module sits one folder below the root, and so does the built server (dist/server.mjs,
 * one bundle whose import.meta.url is its own): the same relative URL finds the root from the
 * source and from the build. Files the server reads at run time are named from here only.
 */
export const packageRoot = new URL('../', import.meta.url);
