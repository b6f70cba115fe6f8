#!/usr/bin/env node
// The passthru command when run from a checkout of the repository (npm's bin): it registers tsx's
// loader and runs cli/main.ts in this same process, as agent/bin/passthru-agent.mjs does. A
// workstation without the checkout gets the one-file bundle instead (npm run build: dist/passthru.mjs).
import { register } from 'tsx/esm/api';

register();
await import('../passthru.ts');
