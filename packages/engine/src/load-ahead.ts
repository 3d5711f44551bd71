import type { tf } from '@recallkit/core';

/** Rows [start, end) of one batch of dataset indices. */
export interface ChunkRequest {
  batch: Int32Array;
  start: number;
  end: number;
}

const same = (a: ChunkRequest, b: ChunkRequest) =>
  a.batch === b.batch && a.start === b.start && a.end === b.end;

/**
 * Loads chunks one ahead: handing out a chunk starts the load of the one asked for next, so that a
 * dataset that loads asynchronously (image files, which sharp decodes on threads of its own) works
 * while the model computes on the current chunk. At most one chunk is loaded ahead; one that is not
 * asked for next is disposed, so a wrong guess costs a load, never a wrong input.
 */
export class LoadAhead {
  private pending?: { request: ChunkRequest; images: Promise<tf.Tensor> };

  /** With `enabled` false, every chunk is loaded when taken and nothing ahead. */
  constructor(
    private readonly load: (request: ChunkRequest) => Promise<tf.Tensor>,
    private readonly enabled = true,
  ) {}

  /** The images of `request` (the caller disposes them); then starts loading `following`, if given. */
  async take(request: ChunkRequest, following?: ChunkRequest): Promise<tf.Tensor> {
    const pending = this.pending;
    this.pending = undefined;
    let images: Promise<tf.Tensor>;
    if (pending && same(pending.request, request)) {
      images = pending.images;
    } else {
      if (pending) discard(pending.images);
      images = this.load(request);
    }
    if (following && this.enabled) {
      const next = this.load(following);
      next.catch(() => {}); // surfaced when taken; no unhandled rejection while it waits
      this.pending = { request: following, images: next };
    }
    return images;
  }

  /** Waits for a chunk loaded ahead and not taken, and disposes it (a failed load is moot then). */
  async dispose(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (pending) await pending.images.then((t) => t.dispose()).catch(() => {});
  }
}

function discard(images: Promise<tf.Tensor>): void {
  images.then((t) => t.dispose()).catch(() => {});
}
