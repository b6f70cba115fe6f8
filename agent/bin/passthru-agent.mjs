#!/usr/bin/env node
// The passthru-agent command. The agent ships as TypeScript source, so this registers tsx's
// loader (a runtime dependency for that reason) and runs agent/main.ts in this same process:
// signals, exit codes and stdio are the agent's own.
import { register } from 'tsx/esm/api';

register();
await import('../main.ts');
