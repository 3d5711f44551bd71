import { RecallkitError } from '@recallkit/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { closestMatch, createRegistry, editDistance } from '../src/index';

function withLosses() {
  const registry = createRegistry();
  registry.register('loss', 'rsk', {
    schema: z.strictObject({
      tau: z.number().positive().default(0.01),
      k: z.array(z.number().int()).default([1, 2]),
    }),
    create: (options) => ({ kind: 'rsk', ...options }),
    aliases: ['recall-at-k'],
    description: 'Recall@k surrogate',
  });
  registry.register('loss', 'smoothap', { schema: z.strictObject({}), create: () => 'smoothap' });
  registry.register('loss', 'contrastive', { schema: z.strictObject({}), create: () => 'contrastive' });
  return registry;
}

function thrown(fn: () => unknown): RecallkitError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RecallkitError);
    return error as RecallkitError;
  }
  throw new Error('expected an error');
}

describe('editDistance / closestMatch', () => {
  it('counts edits (hand-worked cases)', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('rsk', 'rsk')).toBe(0);
    expect(editDistance('smoothap', 'smothap')).toBe(1);
  });
  it('suggests only plausible matches', () => {
    expect(closestMatch('smothap', ['rsk', 'smoothap', 'contrastive'])).toBe('smoothap');
    expect(closestMatch('RSK', ['rsk', 'smoothap'])).toBe('rsk');
    expect(closestMatch('zzzzzzzz', ['rsk', 'smoothap'])).toBeUndefined();
    expect(closestMatch('x', [])).toBeUndefined();
  });
});

describe('createRegistry', () => {
  it('resolves by id and alias, validating options and filling defaults', async () => {
    const registry = withLosses();
    expect(await registry.resolve('loss:rsk', { tau: 0.05 })).toEqual({ kind: 'rsk', tau: 0.05, k: [1, 2] });
    expect(await registry.resolve('loss:recall-at-k')).toEqual({ kind: 'rsk', tau: 0.01, k: [1, 2] });
    expect(registry.get('loss:RSK').id).toBe('loss:rsk');
    expect(registry.has('loss:rsk')).toBe(true);
    expect(registry.has('loss:triplet')).toBe(false);
    expect(registry.list('loss').map((c) => c.id)).toEqual(['loss:contrastive', 'loss:rsk', 'loss:smoothap']);
  });

  it('passes the caller context to create', async () => {
    const registry = createRegistry();
    registry.register('mixup', 'wrap', {
      schema: z.object({}),
      create: (_options, context: { inner: string }) => `wrapped ${context.inner}`,
    });
    expect(await registry.resolve('mixup:wrap', {}, { inner: 'rsk' })).toBe('wrapped rsk');
  });

  it('names what exists and the closest match for an unknown name', () => {
    const error = thrown(() => withLosses().get('loss:smothap'));
    expect(error.code).toBe('UNKNOWN_COMPONENT');
    expect(error.message).toBe(
      "unknown loss 'smothap' (did you mean 'smoothap'?); registered: contrastive, rsk, smoothap",
    );
    expect(error.details).toMatchObject({
      available: ['contrastive', 'rsk', 'smoothap'],
      suggestion: 'smoothap',
    });
    const far = thrown(() => withLosses().get('loss:arcface'));
    expect(far.message).not.toContain('did you mean');
    expect(far.message).toContain('contrastive, rsk, smoothap');
  });

  it('rejects ids without a valid kind or name', () => {
    expect(thrown(() => withLosses().get('los:rsk')).code).toBe('UNKNOWN_KIND');
    expect(thrown(() => withLosses().get('los:rsk')).message).toContain("did you mean 'loss:rsk'");
    expect(thrown(() => withLosses().get('loss:')).code).toBe('INVALID_ID');
    expect(thrown(() => withLosses().get('rsk')).code).toBe('UNKNOWN_KIND');
  });

  it('names the field and the expected type of invalid options', async () => {
    const registry = withLosses();
    const error = thrown(() => registry.validate('loss:rsk', { tau: 'small', k: [1, 2.5] }));
    expect(error.code).toBe('INVALID_OPTION');
    expect(error.message).toContain("loss:rsk: 'tau': expected number, received string");
    expect(error.message).toContain("'k[1]': expected int");
    await expect(registry.resolve('loss:rsk', { tau: -1 })).rejects.toThrow(/'tau'.*>0/);
  });

  it('suggests the intended option for a misspelt key', () => {
    const error = thrown(() => withLosses().validate('loss:rsk', { tua: 0.1 }));
    expect(error.message).toBe("loss:rsk: unknown option 'tua' (did you mean 'tau'?)");
  });

  it('refuses duplicate names and aliases unless overriding', async () => {
    const registry = withLosses();
    const again = () => registry.register('loss', 'recall-at-k', { schema: z.object({}), create: () => 1 });
    expect(thrown(again).code).toBe('DUPLICATE_COMPONENT');
    registry.register('loss', 'rsk', { schema: z.object({}), create: () => 'replaced' }, { override: true });
    expect(await registry.resolve('loss:rsk')).toBe('replaced');
    expect(registry.has('loss:recall-at-k')).toBe(false);
    expect(
      thrown(() => registry.register('loss', 'bad name', { schema: z.object({}), create: () => 1 })).code,
    ).toBe('INVALID_ID');
  });
});
