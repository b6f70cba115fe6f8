// The simulated host backend (`passthru-agent --backend sim`), as the agent, the demo and the
// tests use it.

export { SimBackend, type SimBackendOptions, type SimLogger } from './backend.ts';
export { GPU_MODELS, NVME_MODELS, USB_MODELS } from './catalog.ts';
export { DEFAULT_SIM_CONFIG, parseSimConfig, SimConfigError, SIM_OPERATIONS } from './config.ts';
export type { ParsedSimHostConfig, SimFault, SimHostConfig, SimOperation } from './config.ts';
export type { SimDevice } from './hardware.ts';
export type { SimDomain, SimSnapshot } from './state-file.ts';
