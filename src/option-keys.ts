/**
 * The option keys each public entry point accepts (options-check.ts refuses any other). One
 * list per entry point, one key per line: a new option is one added line here plus its type.
 */

/** seal, open, createSealStream, createOpenStream, sealWebStream, openWebStream. */
export const PIPELINE_KEYS: readonly string[] = [
  'suite',
  'context',
  'threads',
  'backend',
  'slotBytes',
  'inflight',
  'maxRingBytes',
  'signal',
];

/** seal, open (whole buffers): the pipeline's keys and an output to write into. */
export const WHOLE_KEYS: readonly string[] = [
  ...PIPELINE_KEYS,
  'into',
];

/** Sources at http(s):// and s3:// URLs (src/remote/options.ts); `signal` is listed apart. */
export const REMOTE_KEYS: readonly string[] = [
  'headers',
  'connections',
  'retry',
  's3',
];

/** sealFile, openFile. */
export const FILE_KEYS: readonly string[] = [
  ...PIPELINE_KEYS,
  ...REMOTE_KEYS,
  'overwrite',
];

/** bounce. */
export const BOUNCE_KEYS: readonly string[] = [
  ...PIPELINE_KEYS,
  ...REMOTE_KEYS,
  'mode',
  'onSlot',
];

/** openInMemory. */
export const MEMORY_FILE_KEYS: readonly string[] = [
  ...PIPELINE_KEYS,
  ...REMOTE_KEYS,
];

/** SealedFile.open, SealedFile.fromBytes. */
export const SEALED_FILE_KEYS: readonly string[] = [
  'suite',
  'context',
  'backend',
  ...REMOTE_KEYS,
  'signal',
];

/** SealedSafetensors.open, SealedSafetensors.fromSource. */
export const SAFETENSORS_KEYS: readonly string[] = [
  'suite',
  'context',
  'backend',
  'threads',
  'readAheadBytes',
  'plaintextIndex',
  ...REMOTE_KEYS,
  'signal',
];

/** gcmSeal, gcmOpen (weightseal/hazmat). */
export const GCM_KEYS: readonly string[] = [
  'backend',
];

/** rawSeal, rawOpen, rawSealChunks, rawOpenChunks (weightseal/hazmat). */
export const RAW_KEYS: readonly string[] = [
  'backend',
  'output',
];

/** rawSealChunks, rawOpenChunks (weightseal/hazmat). */
export const CHUNK_RUN_KEYS: readonly string[] = [
  ...RAW_KEYS,
  'final',
];
