// Pool worker entry when the pipeline runs from TypeScript sources (see ts-hooks.mjs); the
// compiled package uses worker.js directly.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
const mod = await import('./worker.ts');
export default mod.default;
