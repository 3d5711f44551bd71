import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RecallkitError, tf } from '@recallkit/core';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

function readModelJson(dir: string, text: string): tf.io.ModelJSON {
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text) as tf.io.ModelJSON;
  } catch (error) {
    throw new RecallkitError(
      'INVALID_MODEL_JSON',
      `${join(dir, MODEL_JSON)} is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (json == null || typeof json !== 'object' || json.modelTopology == null) {
    throw new RecallkitError(
      'INVALID_MODEL_JSON',
      `${join(dir, MODEL_JSON)} has no modelTopology: not a TensorFlow.js model`,
    );
  }
  return json;
}

function missing(dir: string): RecallkitError {
  return new RecallkitError(
    'MODEL_NOT_FOUND',
    `no TensorFlow.js model at ${dir}: expected ${MODEL_JSON} and its weight shards there`,
  );
}

/** Reads every weight shard a model.json names, in manifest order, as one buffer. */
function weightsReader(dir: string, read: (path: string) => Buffer) {
  return (manifest: tf.io.WeightsManifestConfig): [tf.io.WeightsManifestEntry[], ArrayBuffer] => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: Buffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const path of group.paths) {
        const file = resolve(dir, path);
        try {
          buffers.push(read(file));
        } catch {
          throw new RecallkitError(
            'MODEL_WEIGHTS_MISSING',
            `weight shard ${file} named by ${join(dir, MODEL_JSON)} cannot be read`,
          );
        }
      }
    }
    const all = Buffer.concat(buffers);
    return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer];
  };
}

/**
 * A TF.js IOHandler over a local directory (model.json + weight shards), for Node without tfjs-node's
 * `file://` handler. Reads any sharded layers- or graph-model directory; writes one `weights.bin` shard.
 */
export function directoryHandler(dir: string): tf.io.IOHandler {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(join(dir, MODEL_JSON), 'utf8');
      } catch {
        throw missing(dir);
      }
      const json = readModelJson(dir, text);
      const read = weightsReader(dir, readFileSync);
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => read(manifest));
    },
    async save(artifacts) {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new RecallkitError(
          'MODEL_SAVE',
          'binary (protobuf) model topologies cannot be saved as model.json',
        );
      }
      const weightData =
        artifacts.weightData == null
          ? new ArrayBuffer(0)
          : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology!,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig == null ? {} : { trainingConfig: artifacts.trainingConfig }),
        ...(artifacts.signature == null ? {} : { signature: artifacts.signature }),
        ...(artifacts.userDefinedMetadata == null
          ? {}
          : { userDefinedMetadata: artifacts.userDefinedMetadata }),
      };
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, WEIGHTS_BIN), new Uint8Array(weightData));
      await writeFile(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

/** Synchronous reader of a model directory, for tf.loadGraphModelSync. */
export function directoryHandlerSync(dir: string): tf.io.IOHandlerSync {
  return {
    load() {
      if (!existsSync(join(dir, MODEL_JSON))) throw missing(dir);
      const json = readModelJson(dir, readFileSync(join(dir, MODEL_JSON), 'utf8'));
      const [specs, data] = weightsReader(dir, readFileSync)(json.weightsManifest);
      return tf.io.getModelArtifactsForJSONSync(json, specs, data);
    },
  };
}

/** The `format` field of a model directory's model.json ('layers-model' or 'graph-model'), inferred when absent. */
export async function modelFormat(dir: string): Promise<'layers-model' | 'graph-model'> {
  let text: string;
  try {
    text = await readFile(join(dir, MODEL_JSON), 'utf8');
  } catch {
    throw missing(dir);
  }
  const json = readModelJson(dir, text);
  if (json.format === 'graph-model' || json.format === 'layers-model') return json.format;
  // Older converters leave `format` out: a GraphDef has `node`, a Keras topology has `class_name`.
  const topology = json.modelTopology as Record<string, unknown>;
  return 'node' in topology ? 'graph-model' : 'layers-model';
}
