/** Safetensors models, sealed or plaintext, one file or sharded. */
export { SealedSafetensors, type SafetensorsOptions, type Tensor } from './sealed-safetensors.js';
export { DTYPE_BITS, MAX_HEADER_BYTES, buildHeader, type Dtype, type TensorInfo } from './header.js';
export { PlainFile, type RandomAccess, type Key } from './source.js';
