// The jpeg-js peer's worker: decodes JPEG files with jpeg-js (pure JavaScript), samples the
// planned crop bilinearly to size x size, flips, and normalises to float32 as the sharp pipeline does.
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import jpeg from 'jpeg-js';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

function sample({ file, ax, bx, ay, by, flip, size }) {
  const { width, height, data } = jpeg.decode(readFileSync(file), { useTArray: true, formatAsRGBA: true });
  const out = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(Math.max(ay * y + by, 0), height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, height - 1);
    const fy = sy - y0;
    for (let x = 0; x < size; x++) {
      const sx = Math.min(Math.max(ax * (flip ? size - 1 - x : x) + bx, 0), width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, width - 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const v =
          (1 - fy) * ((1 - fx) * data[(y0 * width + x0) * 4 + c] + fx * data[(y0 * width + x1) * 4 + c]) +
          fy * ((1 - fx) * data[(y1 * width + x0) * 4 + c] + fx * data[(y1 * width + x1) * 4 + c]);
        out[(y * size + x) * 3 + c] = (v / 255 - MEAN[c]) / STD[c];
      }
    }
  }
  return out;
}

parentPort.on('message', (jobs) => {
  let checksum = 0;
  for (const job of jobs) checksum += sample(job)[0];
  parentPort.postMessage(checksum);
});
