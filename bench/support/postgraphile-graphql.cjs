// PostGraphile v4 needs graphql 15 while Passthru runs graphql 16, so npm installs graphql 15
// twice (under postgraphile and under graphile-build-pg) and graphql-parse-resolve-info sees
// the root graphql 16: three instances, and graphql refuses schemas "from another realm".
// Preloaded (node -r) only into the PostGraphile child process of the benchmark, this sends
// every require('graphql') in that process to PostGraphile's own copy.
const Module = require('node:module');
const path = require('node:path');

const postgraphileDir = path.dirname(require.resolve('postgraphile/package.json'));
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, isMain, options) {
  const ours = request === 'graphql' || request.startsWith('graphql/');
  return resolveFilename.call(this, request, parent, isMain, ours ? { paths: [postgraphileDir] } : options);
};
