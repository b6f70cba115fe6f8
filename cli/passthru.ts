// The `passthru` executable: runs one command line and exits with its status (the bin launcher
// and the dist/passthru.mjs bundle both start here).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2), process.env);
