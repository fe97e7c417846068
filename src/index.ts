/** weightseal: public re-exports only. Raw mode and one-shot GCM live in weightseal/hazmat. */
export { WeightsealError, isWeightsealError, type ErrorCode } from './errors.js';
export { info, type Info, type BackendName } from './backend/index.js';
export { SealedFile, type SealedFileOptions } from './sealed-file.js';
export { DEFAULT_SUITE, type Suite } from './cobblestone.js';
export {
  seal, open, sealedSize, plaintextSize, sealFile, openFile, createSealStream, createOpenStream, sealWebStream, openWebStream, bounce,
  type Key, type PipelineOptions, type WholeOptions, type FileOptions, type FileResult, type BounceOptions, type BounceSource,
  type BounceResult,
} from './stream-api.js';
export type { PipelineTransform } from './io/node-streams.js';
export {
  SealedSafetensors, PlainFile, DTYPE_BITS, MAX_HEADER_BYTES, type SafetensorsOptions, type Tensor, type TensorInfo,
  type Dtype, type RandomAccess,
} from './safetensors/index.js';
export { openInMemory, type MemoryFile } from './io/memory-file.js';
