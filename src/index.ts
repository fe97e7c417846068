/** weightseal: public re-exports only. */
export { WeightsealError, isWeightsealError, type ErrorCode } from './errors.js';
export { info, type Info, type BackendName } from './backend/index.js';
