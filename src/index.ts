/** weightseal: public re-exports only. Raw mode and one-shot GCM live in weightseal/hazmat. */
export { WeightsealError, isWeightsealError, type ErrorCode } from './errors.js';
export { info, type Info, type BackendName } from './backend/index.js';
export { SealedFile, type SealedFileOptions } from './sealed-file.js';
export { DEFAULT_SUITE, type Suite } from './cobblestone.js';
