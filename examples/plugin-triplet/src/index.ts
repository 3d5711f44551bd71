import type { Registry } from '@recallkit/registry';
import { z } from 'zod';
import { tripletLoss } from './triplet';

export { type TripletOptions, tripletLoss } from './triplet';

/**
 * Registers `loss:triplet`. Recallkit calls this for every package listed under `plugins:` in an
 * experiment file; call it yourself to use the loss through your own registry.
 */
export function register(registry: Registry): void {
  registry.register('loss', 'triplet', {
    schema: z.strictObject({ margin: z.number().nonnegative().default(0.2) }),
    create: (options) => tripletLoss(options),
    aliases: ['triplet-margin'],
    description: 'batch-all triplet loss on cosine similarity (example plugin)',
  });
}
