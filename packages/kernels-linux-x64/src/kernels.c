/*
 * Convolution (NHWC) and its two gradients as im2col + OpenBLAS sgemm, batched matrix products and
 * the max-pool gradient, on Float32Arrays: the views @recallkit/core takes of tfjs-backend-wasm's heap, read and written
 * in place. Every function checks the lengths of its arrays against the shape it is given.
 *
 * Geometry (`dims`, an Int32Array, tfjs's Conv2DInfo in this order):
 *   batch, inH, inW, inC, outH, outW, outC, filterH, filterW, strideH, strideW, dilationH,
 *   dilationW, padTop, padLeft
 * Layouts: x [batch, inH, inW, inC], filter [filterH, filterW, inC, outC], y [batch, outH, outW, outC].
 * The im2col matrix has a row per output pixel and a column per (fy, fx, ci): the filter flattened
 * to [filterH * filterW * inC, outC] is the other factor as it lies in memory.
 */
#include <cblas.h>
#include <math.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padT, padL;
} Geometry;

/* Floats of im2col scratch per block of images: 16 MB, so big layers stream through the cache. */
#define COL_BLOCK_FLOATS (4 << 20)

static napi_value fail(napi_env env, const char* message) {
  napi_throw_range_error(env, "RECALLKIT_NATIVE_KERNEL", message);
  return NULL;
}

static int floats(napi_env env, napi_value v, float** data, size_t* length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void* raw;
  if (napi_get_typedarray_info(env, v, &type, length, &raw, &buffer, &offset) != napi_ok ||
      type != napi_float32_array) {
    return 0;
  }
  *data = (float*)raw;
  return 1;
}

/*
 * Reads (arrays..., dims) and checks dims; returns 1, or 0 after throwing. `extra` receives the
 * arguments after dims (up to 2, NULL where absent).
 */
static int args(napi_env env, napi_callback_info info, size_t count, float** arrays, size_t* lengths,
                Geometry* g, napi_value* extra) {
  napi_value argv[6];
  size_t argc = 6;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (extra != NULL) {
    extra[0] = argc > count + 1 ? argv[count + 1] : NULL;
    extra[1] = argc > count + 2 ? argv[count + 2] : NULL;
  } else if (argc != count + 1) {
    fail(env, "wrong number of arguments");
    return 0;
  }
  if (argc < count + 1) {
    fail(env, "wrong number of arguments");
    return 0;
  }
  for (size_t i = 0; i < count; i++) {
    if (!floats(env, argv[i], &arrays[i], &lengths[i])) {
      fail(env, "expected a Float32Array");
      return 0;
    }
  }
  napi_typedarray_type type;
  size_t n;
  void* raw;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, argv[count], &type, &n, &raw, &buffer, &offset) != napi_ok ||
      type != napi_int32_array || n != 15) {
    fail(env, "expected the geometry as an Int32Array of 15");
    return 0;
  }
  const int32_t* d = (const int32_t*)raw;
  for (int i = 0; i < 15; i++) {
    if (d[i] < 0 || (i < 13 && d[i] == 0)) {
      fail(env, "geometry out of range");
      return 0;
    }
  }
  *g = (Geometry){d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14]};
  return 1;
}

static int64_t inputSize(const Geometry* g) { return g->batch * g->inH * g->inW * g->inC; }
static int64_t outputSize(const Geometry* g) { return g->batch * g->outH * g->outW * g->outC; }
static int64_t filterSize(const Geometry* g) { return g->fH * g->fW * g->inC * g->outC; }
static int64_t patch(const Geometry* g) { return g->fH * g->fW * g->inC; }
static int64_t pixels(const Geometry* g) { return g->outH * g->outW; }

/* The input is its own im2col matrix: 1 x 1 filter, stride 1, no padding. */
static int direct(const Geometry* g) {
  return g->fH == 1 && g->fW == 1 && g->sH == 1 && g->sW == 1 && g->padT == 0 && g->padL == 0 &&
         g->outH == g->inH && g->outW == g->inW;
}

static int64_t imagesPerBlock(const Geometry* g) {
  int64_t per = pixels(g) * patch(g);
  int64_t n = per > 0 ? COL_BLOCK_FLOATS / per : g->batch;
  if (n < 1) n = 1;
  return n < g->batch ? n : g->batch;
}

/* im2col of images [b0, b0 + n): row (b, oy, ox), column (fy, fx, ci); zero outside the input. */
static void im2col(const Geometry* g, const float* x, int64_t b0, int64_t n, float* col) {
  const int64_t k = patch(g);
  for (int64_t b = 0; b < n; b++) {
    const float* image = x + (b0 + b) * g->inH * g->inW * g->inC;
    for (int64_t oy = 0; oy < g->outH; oy++) {
      for (int64_t ox = 0; ox < g->outW; ox++) {
        float* row = col + ((b * g->outH + oy) * g->outW + ox) * k;
        for (int64_t fy = 0; fy < g->fH; fy++) {
          const int64_t iy = oy * g->sH - g->padT + fy * g->dH;
          float* dst = row + fy * g->fW * g->inC;
          if (iy < 0 || iy >= g->inH) {
            memset(dst, 0, sizeof(float) * g->fW * g->inC);
            continue;
          }
          for (int64_t fx = 0; fx < g->fW; fx++) {
            const int64_t ix = ox * g->sW - g->padL + fx * g->dW;
            if (ix < 0 || ix >= g->inW) {
              memset(dst + fx * g->inC, 0, sizeof(float) * g->inC);
            } else {
              memcpy(dst + fx * g->inC, image + (iy * g->inW + ix) * g->inC, sizeof(float) * g->inC);
            }
          }
        }
      }
    }
  }
}

/* The adjoint of im2col: adds each column entry back to its input pixel (dx must start at zero). */
static void col2im(const Geometry* g, const float* col, int64_t b0, int64_t n, float* dx) {
  const int64_t k = patch(g);
  for (int64_t b = 0; b < n; b++) {
    float* image = dx + (b0 + b) * g->inH * g->inW * g->inC;
    for (int64_t oy = 0; oy < g->outH; oy++) {
      for (int64_t ox = 0; ox < g->outW; ox++) {
        const float* row = col + ((b * g->outH + oy) * g->outW + ox) * k;
        for (int64_t fy = 0; fy < g->fH; fy++) {
          const int64_t iy = oy * g->sH - g->padT + fy * g->dH;
          if (iy < 0 || iy >= g->inH) continue;
          for (int64_t fx = 0; fx < g->fW; fx++) {
            const int64_t ix = ox * g->sW - g->padL + fx * g->dW;
            if (ix < 0 || ix >= g->inW) continue;
            float* dst = image + (iy * g->inW + ix) * g->inC;
            const float* src = row + (fy * g->fW + fx) * g->inC;
            for (int64_t c = 0; c < g->inC; c++) dst[c] += src[c];
          }
        }
      }
    }
  }
}

/* Adds the bias (one per output channel) to `rows` rows of y and clamps at 0 when `relu`. */
static void biasAndActivation(float* y, int64_t rows, int64_t channels, const float* bias, int relu) {
  for (int64_t r = 0; r < rows; r++, y += channels) {
    if (bias != NULL) {
      for (int64_t c = 0; c < channels; c++) y[c] += bias[c];
    }
    if (relu) {
      for (int64_t c = 0; c < channels; c++) y[c] = y[c] > 0.0f ? y[c] : 0.0f;
    }
  }
}

/*
 * The convolutions and the max-pool gradient split the batch into contiguous ranges of images, one
 * per thread (`threads`, set by setThreads). A convolution's range has its own im2col scratch and
 * calls a one-thread sgemm: their GEMMs are tall and narrow (a row per output pixel, 27 to a few
 * hundred columns), which OpenBLAS's own threads barely speed up, and im2col / col2im,
 * single-threaded otherwise, split the same way.
 */
static int threads_ = 1;
static int blasThreads_ = 1;

/* One kernel call over the batch: its operands, and `work`, which does the images [b0, b1). */
typedef struct BatchJob BatchJob;
struct BatchJob {
  Geometry g;
  const float *in, *w, *bias; /* w: the filter, or dy (conv2dBackpropFilter, maxPoolGrad) */
  float* out;
  bool relu;
  float* partial[64]; /* conv2dBackpropFilter: each range's dw (range 0 writes dw itself) */
  int (*work)(const BatchJob* c, int64_t b0, int64_t b1, int t);
};

typedef struct {
  const BatchJob* c;
  int64_t b0, b1;
  int t, ok;
} Range;

static void* runRange(void* arg) {
  Range* r = arg;
  r->ok = r->c->work(r->c, r->b0, r->b1, r->t);
  return NULL;
}

/* Runs c->work over `ranges` contiguous ranges of the batch, the first on this thread; 1 if all ran. */
static int overBatch(const BatchJob* c, int ranges) {
  Range r[64] = {{0}};
  pthread_t id[64];
  bool started[64] = {false};
  for (int t = 0; t < ranges; t++) {
    r[t] = (Range){c, c->g.batch * t / ranges, c->g.batch * (t + 1) / ranges, t, 0};
  }
  if (ranges > 1) openblas_set_num_threads(1);
  for (int t = 1; t < ranges; t++) started[t] = pthread_create(&id[t], NULL, runRange, &r[t]) == 0;
  runRange(&r[0]);
  int ok = r[0].ok;
  for (int t = 1; t < ranges; t++) {
    if (started[t]) pthread_join(id[t], NULL);
    else runRange(&r[t]); /* no thread to be had: run it here */
    ok = ok && r[t].ok;
  }
  if (ranges > 1) openblas_set_num_threads(blasThreads_);
  return ok;
}

/* Ranges for a batch: one per thread, never more than images. */
static int rangesFor(const Geometry* g) { return g->batch < threads_ ? (int)g->batch : threads_; }

static int forwardRange(const BatchJob* c, int64_t b0, int64_t b1, int t) {
  (void)t;
  const Geometry* g = &c->g;
  const int64_t k = patch(g), m = pixels(g), block = imagesPerBlock(g);
  float* col = malloc(sizeof(float) * block * m * k);
  if (col == NULL) return 0;
  for (int64_t s = b0; s < b1; s += block) {
    const int64_t nb = s + block <= b1 ? block : b1 - s;
    im2col(g, c->in, s, nb, col);
    float* out = c->out + s * m * g->outC;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb * m, g->outC, k, 1.0f, col, k, c->w, g->outC, 0.0f,
                out, g->outC);
    biasAndActivation(out, nb * m, g->outC, c->bias, c->relu);
  }
  free(col);
  return 1;
}

static int inputGradRange(const BatchJob* c, int64_t b0, int64_t b1, int t) {
  (void)t;
  const Geometry* g = &c->g;
  const int64_t k = patch(g), m = pixels(g), block = imagesPerBlock(g), image = g->inH * g->inW * g->inC;
  float* col = malloc(sizeof(float) * block * m * k);
  if (col == NULL) return 0;
  memset(c->out + b0 * image, 0, sizeof(float) * (b1 - b0) * image);
  for (int64_t s = b0; s < b1; s += block) {
    const int64_t nb = s + block <= b1 ? block : b1 - s;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb * m, k, g->outC, 1.0f, c->in + s * m * g->outC, g->outC,
                c->w, g->outC, 0.0f, col, k);
    col2im(g, col, s, nb, c->out);
  }
  free(col);
  return 1;
}

static int filterGradRange(const BatchJob* c, int64_t b0, int64_t b1, int t) {
  const Geometry* g = &c->g;
  const int64_t k = patch(g), m = pixels(g), block = imagesPerBlock(g);
  float* dw = c->partial[t];
  float* col = malloc(sizeof(float) * block * m * k);
  if (col == NULL) return 0;
  for (int64_t s = b0; s < b1; s += block) {
    const int64_t nb = s + block <= b1 ? block : b1 - s;
    im2col(g, c->in, s, nb, col);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, g->outC, nb * m, 1.0f, col, k, c->w + s * m * g->outC,
                g->outC, s == b0 ? 0.0f : 1.0f, dw, g->outC);
  }
  free(col);
  return 1;
}

/*
 * conv2d(x, filter, y, dims[, bias[, relu]]): y = x * filter, plus bias (a Float32Array of outC, or
 * null) and then max(0, y) when relu is true: tfjs's FusedConv2D with a linear or ReLU activation.
 */
static napi_value conv2d(napi_env env, napi_callback_info info) {
  float* a[3];
  size_t n[3];
  Geometry g;
  napi_value extra[2];
  if (!args(env, info, 3, a, n, &g, extra)) return NULL;
  if ((int64_t)n[0] != inputSize(&g) || (int64_t)n[1] != filterSize(&g) || (int64_t)n[2] != outputSize(&g)) {
    return fail(env, "conv2d: array lengths do not match the geometry");
  }
  float* bias = NULL;
  napi_valuetype type = napi_undefined;
  if (extra[0] != NULL) napi_typeof(env, extra[0], &type);
  if (type != napi_undefined && type != napi_null) {
    size_t length;
    if (!floats(env, extra[0], &bias, &length) || (int64_t)length != g.outC) {
      return fail(env, "conv2d: the bias must be a Float32Array of one value per output channel");
    }
  }
  bool relu = false;
  if (extra[1] != NULL && napi_get_value_bool(env, extra[1], &relu) != napi_ok) {
    return fail(env, "conv2d: relu must be a boolean");
  }
  const int64_t k = patch(&g), m = pixels(&g);
  if (direct(&g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.batch * m, g.outC, k, 1.0f, a[0], k, a[1], g.outC,
                0.0f, a[2], g.outC);
    biasAndActivation(a[2], g.batch * m, g.outC, bias, relu);
    return NULL;
  }
  BatchJob c = {.g = g, .in = a[0], .w = a[1], .bias = bias, .out = a[2], .relu = relu, .work = forwardRange};
  if (!overBatch(&c, rangesFor(&g))) return fail(env, "conv2d: out of memory for the im2col block");
  return NULL;
}

/* conv2dBackpropInput(dy, filter, dx, dims): dx = the gradient of sum(dy * conv2d(x, filter)). */
static napi_value conv2dBackpropInput(napi_env env, napi_callback_info info) {
  float* a[3];
  size_t n[3];
  Geometry g;
  if (!args(env, info, 3, a, n, &g, NULL)) return NULL;
  if ((int64_t)n[0] != outputSize(&g) || (int64_t)n[1] != filterSize(&g) || (int64_t)n[2] != inputSize(&g)) {
    return fail(env, "conv2dBackpropInput: array lengths do not match the geometry");
  }
  const int64_t k = patch(&g), m = pixels(&g);
  if (direct(&g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.batch * m, k, g.outC, 1.0f, a[0], g.outC, a[1], g.outC,
                0.0f, a[2], k);
    return NULL;
  }
  BatchJob c = {.g = g, .in = a[0], .w = a[1], .out = a[2], .work = inputGradRange};
  if (!overBatch(&c, rangesFor(&g))) return fail(env, "conv2dBackpropInput: out of memory for the im2col block");
  return NULL;
}

/*
 * conv2dBackpropFilter(x, dy, dw, dims): dw = the gradient of sum(dy * conv2d(x, filter)). Each range
 * sums its images' share; the shares are added in range order, so a given thread count always
 * gives the same bits.
 */
static napi_value conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  float* a[3];
  size_t n[3];
  Geometry g;
  if (!args(env, info, 3, a, n, &g, NULL)) return NULL;
  if ((int64_t)n[0] != inputSize(&g) || (int64_t)n[1] != outputSize(&g) || (int64_t)n[2] != filterSize(&g)) {
    return fail(env, "conv2dBackpropFilter: array lengths do not match the geometry");
  }
  const int64_t k = patch(&g), m = pixels(&g), size = filterSize(&g);
  if (direct(&g)) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, g.outC, g.batch * m, 1.0f, a[0], k, a[1], g.outC, 0.0f,
                a[2], g.outC);
    return NULL;
  }
  const int ranges = rangesFor(&g);
  BatchJob c = {.g = g, .in = a[0], .w = a[1], .out = a[2], .work = filterGradRange};
  c.partial[0] = a[2];
  float* shares = ranges > 1 ? malloc(sizeof(float) * size * (ranges - 1)) : NULL;
  if (ranges > 1 && shares == NULL) return fail(env, "conv2dBackpropFilter: out of memory for the partial sums");
  for (int t = 1; t < ranges; t++) c.partial[t] = shares + (t - 1) * size;
  const int ok = overBatch(&c, ranges);
  for (int t = 1; ok && t < ranges; t++) {
    for (int64_t i = 0; i < size; i++) a[2][i] += c.partial[t][i];
  }
  free(shares);
  if (!ok) return fail(env, "conv2dBackpropFilter: out of memory for the im2col block");
  return NULL;
}

/*
 * maxPoolGrad(x, dy, dx, dims): each output's dy goes to the first position (row-major within its
 * window) holding the window's maximum, summed where windows overlap; a window of NaN or -Infinity
 * only passes nothing (tfjs cpu's MaxPoolGrad). dims as for a convolution with outC = inC.
 */
static int maxPoolGradRange(const BatchJob* k, int64_t b0, int64_t b1, int t) {
  (void)t;
  const Geometry* g = &k->g;
  const int64_t c = g->inC, image = g->inH * g->inW * c;
  memset(k->out + b0 * image, 0, sizeof(float) * (b1 - b0) * image);
  const float* d = k->w + b0 * g->outH * g->outW * c;
  for (int64_t b = b0; b < b1; b++) {
    const float* x = k->in + b * image;
    float* dx = k->out + b * image;
    for (int64_t oy = 0; oy < g->outH; oy++) {
      const int64_t r0 = oy * g->sH - g->padT;
      const int64_t rMin = r0 > 0 ? r0 : 0, rMax = r0 + g->fH < g->inH ? r0 + g->fH : g->inH;
      for (int64_t ox = 0; ox < g->outW; ox++, d += c) {
        const int64_t c0 = ox * g->sW - g->padL;
        const int64_t cMin = c0 > 0 ? c0 : 0, cMax = c0 + g->fW < g->inW ? c0 + g->fW : g->inW;
        /* Channel by channel, so that the running maximum and its offset stay in registers. */
        for (int64_t ch = 0; ch < c; ch++) {
          float best = -INFINITY;
          int64_t at = -1;
          for (int64_t r = rMin; r < rMax; r++) {
            for (int64_t col = cMin; col < cMax; col++) {
              const int64_t i = (r * g->inW + col) * c + ch;
              if (x[i] > best) {
                best = x[i];
                at = i;
              }
            }
          }
          if (at >= 0) dx[at] += d[ch];
        }
      }
    }
  }
  return 1;
}

static napi_value maxPoolGrad(napi_env env, napi_callback_info info) {
  float* a[3];
  size_t n[3];
  Geometry g;
  if (!args(env, info, 3, a, n, &g, NULL)) return NULL;
  if ((int64_t)n[0] != inputSize(&g) || (int64_t)n[1] != outputSize(&g) || (int64_t)n[2] != inputSize(&g) ||
      g.outC != g.inC) {
    return fail(env, "maxPoolGrad: array lengths do not match the geometry");
  }
  /* Images are independent: the batch splits over the threads as the convolutions' does. */
  BatchJob k = {.g = g, .in = a[0], .w = a[1], .out = a[2], .work = maxPoolGradRange};
  overBatch(&k, rangesFor(&g));
  return NULL;
}

/*
 * batchMatMul(a, b, c, dims): c[i] = op(a[i]) op(b[i]) for each of `batch` products, where dims is an
 * Int32Array [batchA, batchB, m, k, n, transposeA, transposeB]; a batch of 1 is broadcast. a[i] is
 * m x k (k x m when transposed), b[i] k x n (n x k when transposed), c[i] m x n, all row-major.
 */
static napi_value batchMatMul(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = 4;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  float* f[3];
  size_t n[3];
  for (int i = 0; i < 3; i++) {
    if (argc != 4 || !floats(env, argv[i], &f[i], &n[i])) return fail(env, "batchMatMul: expected three Float32Arrays and the dims");
  }
  napi_typedarray_type type;
  size_t count;
  void* raw;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, argv[3], &type, &count, &raw, &buffer, &offset) != napi_ok ||
      type != napi_int32_array || count != 7) {
    return fail(env, "batchMatMul: expected the dims as an Int32Array of 7");
  }
  const int32_t* d = (const int32_t*)raw;
  const int64_t batchA = d[0], batchB = d[1], m = d[2], k = d[3], cols = d[4];
  const int transA = d[5] != 0, transB = d[6] != 0;
  const int64_t batch = batchA > batchB ? batchA : batchB;
  if (batchA < 1 || batchB < 1 || m < 1 || k < 1 || cols < 1 || (batchA != batchB && batchA != 1 && batchB != 1)) {
    return fail(env, "batchMatMul: dims out of range");
  }
  if ((int64_t)n[0] != batchA * m * k || (int64_t)n[1] != batchB * k * cols || (int64_t)n[2] != batch * m * cols) {
    return fail(env, "batchMatMul: array lengths do not match the dims");
  }
  for (int64_t i = 0; i < batch; i++) {
    const float* a = f[0] + (batchA == 1 ? 0 : i) * m * k;
    const float* b = f[1] + (batchB == 1 ? 0 : i) * k * cols;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, cols, k,
                1.0f, a, transA ? m : k, b, transB ? k : cols, 0.0f, f[2] + i * m * cols, cols);
  }
  return NULL;
}

/* setThreads(n): the convolutions' threads (at most 64) and OpenBLAS's (for the other products). */
static napi_value setThreads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  int32_t threads = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 1 || napi_get_value_int32(env, argv[0], &threads) != napi_ok || threads < 1) {
    return fail(env, "setThreads: expected a positive integer");
  }
  threads_ = threads < 64 ? threads : 64;
  blasThreads_ = threads;
  openblas_set_num_threads(threads);
  return NULL;
}

/* threads(): OpenBLAS's thread count. */
static napi_value threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_int32(env, openblas_get_num_threads(), &out);
  return out;
}

/* The BLAS: its name, version and the CPU kernel it chose. */
static napi_value blas(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &out);
  return out;
}

NAPI_MODULE_INIT() {
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {{"conv2d", conv2d},
             {"conv2dBackpropInput", conv2dBackpropInput},
             {"conv2dBackpropFilter", conv2dBackpropFilter},
             {"maxPoolGrad", maxPoolGrad},
             {"batchMatMul", batchMatMul},
             {"setThreads", setThreads},
             {"threads", threads},
             {"blas", blas}};
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
