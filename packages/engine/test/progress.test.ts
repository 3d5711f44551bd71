import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../src/progress';

/** A stream that claims to be a terminal, as cli-progress draws only on one. */
function fakeTerminal(): { stream: PassThrough; text: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 160 });
  let text = '';
  stream.on('data', (d) => {
    text += d;
  });
  return { stream, text: () => text };
}

describe('progress bar', () => {
  it('shows steps, loss, images per second and ETA', () => {
    const { stream, text } = fakeTerminal();
    const bar = createProgress(true, 10, 0, stream);
    bar.update(3, { epoch: 1, loss: 0.123456, imagesPerSecond: 812.34 });
    bar.stop();
    expect(text()).toMatch(/epoch 1 .* 3\/10 steps \| loss 0\.1235 \| 812\.3 img\/s \| ETA /);
  });

  it('writes nothing when disabled', () => {
    const { stream, text } = fakeTerminal();
    const bar = createProgress(false, 10, 0, stream);
    bar.update(3, { epoch: 1, loss: 0.5, imagesPerSecond: 1 });
    bar.stop();
    expect(text()).toBe('');
  });
});
