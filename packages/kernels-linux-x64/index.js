'use strict';
// The addon in dist/, built by scripts/build-addon from src/kernels.c with OpenBLAS linked in.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const addon = join(__dirname, 'dist', 'kernels.node');
if (!existsSync(addon)) {
  throw new Error(
    `@recallkit/kernels-linux-x64 holds no addon: ${addon} was not built (run scripts/build-addon in this package)`,
  );
}
const kernels = require(addon);

exports.conv2d = kernels.conv2d;
exports.conv2dBackpropInput = kernels.conv2dBackpropInput;
exports.conv2dBackpropFilter = kernels.conv2dBackpropFilter;
exports.maxPoolGrad = kernels.maxPoolGrad;
exports.batchMatMul = kernels.batchMatMul;
exports.setThreads = kernels.setThreads;
exports.threads = kernels.threads;
exports.blas = kernels.blas;
/** How the addon was built: OpenBLAS version, compiler, what it links, the glibc it needs. */
exports.build = require('./dist/build-info.json');
