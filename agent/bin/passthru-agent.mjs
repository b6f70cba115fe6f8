#!/usr/bin/env node
// The passthru-agent command when run from a checkout of the repository (npm's bin). There the
// agent is TypeScript source, so this registers tsx's loader and runs agent/main.ts in this same
// process: signals, exit codes and stdio are the agent's own. Hosts get the bundled agent from
// the .deb instead (npm run package:agent), which needs neither tsx nor node_modules.
import { register } from 'tsx/esm/api';

register();
await import('../main.ts');
