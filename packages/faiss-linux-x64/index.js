'use strict';
// faiss-node's JavaScript API over the addon in dist/, built by scripts/build-addon from faiss-node's
// own source with faiss and OpenBLAS linked in. MetricType is faiss-node's lib/index.js enum.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const addon = join(__dirname, 'dist', 'faiss-node.node');
if (!existsSync(addon)) {
  throw new Error(
    `@recallkit/faiss-linux-x64 holds no addon: ${addon} was not built (run scripts/build-addon in this package)`,
  );
}
const faiss = require(addon);

// Assigned one by one so that Node.js can see the names from ESM (import { IndexFlatIP } from ...).
exports.Index = faiss.Index;
exports.IndexFlatL2 = faiss.IndexFlatL2;
exports.IndexFlatIP = faiss.IndexFlatIP;
exports.MetricType = {};
for (const [name, value] of [
  ['METRIC_INNER_PRODUCT', 0],
  ['METRIC_L2', 1],
  ['METRIC_L1', 2],
  ['METRIC_Linf', 3],
  ['METRIC_Lp', 4],
  ['METRIC_Canberra', 20],
  ['METRIC_BrayCurtis', 21],
  ['METRIC_JensenShannon', 22],
  ['METRIC_Jaccard', 23],
]) {
  exports.MetricType[name] = value;
  exports.MetricType[value] = name;
}
/** How the addon was built: faiss-node, faiss and OpenBLAS versions, what it links, the glibc it needs. */
exports.build = require('./dist/build-info.json');
