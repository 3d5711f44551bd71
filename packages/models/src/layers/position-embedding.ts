import { RecallkitError, tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

export interface PositionEmbeddingArgs extends LayerArgs {
  /** Prepend a learned class token to the sequence first (default true), as a ViT does. */
  classToken?: boolean;
  /** Initialisers of the class token and of the position embedding (default zeros); not part of the config. */
  classTokenInitializer?: Initializer;
  positionInitializer?: Initializer;
}

/**
 * The token embedding of a Vision Transformer: takes the patch tokens [batch, patches, channels],
 * prepends a learned class token (`cls_token`, shape [1, 1, C]) and adds a learned position embedding
 * (`pos_embed`, [1, 1 + patches, C]), giving [batch, 1 + patches, C]. The weight shapes are timm's, so
 * its tensors load unchanged.
 */
export class PositionEmbedding extends tf.layers.Layer {
  static className = 'PositionEmbedding';
  readonly classToken: boolean;
  private readonly classTokenInitializer: Initializer;
  private readonly positionInitializer: Initializer;
  private cls: tf.LayerVariable | null = null;
  private position: tf.LayerVariable | null = null;

  constructor(args: PositionEmbeddingArgs = {}) {
    super(args);
    this.classToken = args.classToken ?? true;
    this.classTokenInitializer = args.classTokenInitializer ?? tf.initializers.zeros();
    this.positionInitializer = args.positionInitializer ?? tf.initializers.zeros();
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const [, patches, channels] = shape;
    if (shape.length !== 3 || patches == null || channels == null) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `PositionEmbedding takes [batch, patches, channels] of known size; got [${shape.join(', ')}]`,
      );
    }
    const tokens = patches + (this.classToken ? 1 : 0);
    if (this.classToken) {
      this.cls = this.addWeight('cls_token', [1, 1, channels], 'float32', this.classTokenInitializer);
    }
    this.position = this.addWeight('pos_embed', [1, tokens, channels], 'float32', this.positionInitializer);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, patches, channels] = singleShape(inputShape);
    const tokens = patches == null ? null : patches + (this.classToken ? 1 : 0);
    return [batch ?? null, tokens, channels ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      let x = singleTensor(inputs);
      if (this.cls != null) {
        const [batch, , channels] = x.shape as [number, number, number];
        // Broadcasting (not tile) so that the gradient sums over the batch on every backend.
        const cls = tf.add(tf.zeros([batch, 1, channels]), this.cls.read());
        x = tf.concat([cls, x], 1);
      }
      return tf.add(x, this.position!.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), classToken: this.classToken };
  }
}
