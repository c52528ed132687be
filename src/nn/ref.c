/*
 * The reference backend: every op of the layer description as plain C loops
 * on NHWC float arrays, in the order face-api's TypeScript applies them (the
 * convolution sum first, then + bias, then the scale layer, then the
 * activation), with nothing folded or fused.  It is the yardstick the oneDNN
 * backend is tested against, and it runs the few ops that backend leaves to C.
 *
 * The loops keep the output channel innermost so that a compiler vectorises
 * them; accuracy, not speed, is the point.  Every value of the graph gets its
 * own buffer, allocated at build time.
 */
#include <math.h>
#include <string.h>

#include "nn/nnInt.h"

/* ---- kernels ------------------------------------------------------------ */

/* The input pixel at row iy, column ix of x, or NULL where that lies in the
 * padding outside the image. */
static const float *tap(nn_shape xs, const float *x, int iy, int ix) {
  if (iy < 0 || iy >= xs.h || ix < 0 || ix >= xs.w) return NULL;
  return x + ((size_t)iy * xs.w + ix) * xs.c;
}

static void conv(const nn_layer *l, nn_shape xs, const float *x, nn_shape ys, float *y) {
  int pt = custos__nn_pad_l(xs.h, l->kh, l->sh, l->pad);
  int pl = custos__nn_pad_l(xs.w, l->kw, l->sw, l->pad);
  int co = ys.c;
  for (int oy = 0; oy < ys.h; oy++) {
    for (int ox = 0; ox < ys.w; ox++) {
      float *acc = y + ((size_t)oy * ys.w + ox) * co;
      for (int c = 0; c < co; c++) acc[c] = 0.0f;
      for (int ky = 0; ky < l->kh; ky++) {
        for (int kx = 0; kx < l->kw; kx++) {
          const float *px = tap(xs, x, oy * l->sh + ky - pt, ox * l->sw + kx - pl);
          if (px == NULL) continue;
          if (l->depthwise) {
            const float *wr = l->w + ((size_t)ky * l->kw + kx) * co;
            for (int c = 0; c < co; c++) acc[c] += px[c] * wr[c];
          } else {
            const float *wk = l->w + ((size_t)ky * l->kw + kx) * xs.c * co;
            for (int ci = 0; ci < xs.c; ci++) {
              float v = px[ci];
              const float *wr = wk + (size_t)ci * co;
              for (int c = 0; c < co; c++) acc[c] += v * wr[c];
            }
          }
        }
      }
      if (l->b != NULL) {
        for (int c = 0; c < co; c++) acc[c] += l->b[c];
      }
    }
  }
}

static void pool(const nn_layer *l, nn_shape xs, const float *x, nn_shape ys, float *y) {
  int pt = custos__nn_pad_l(xs.h, l->kh, l->sh, l->pad);
  int pl = custos__nn_pad_l(xs.w, l->kw, l->sw, l->pad);
  bool is_max = l->op == NN_OP_MAXPOOL;
  for (int oy = 0; oy < ys.h; oy++) {
    for (int ox = 0; ox < ys.w; ox++) {
      float *o = y + ((size_t)oy * ys.w + ox) * ys.c;
      for (int c = 0; c < ys.c; c++) o[c] = is_max ? -INFINITY : 0.0f;
      int n = 0;
      for (int ky = 0; ky < l->kh; ky++) {
        for (int kx = 0; kx < l->kw; kx++) {
          const float *px = tap(xs, x, oy * l->sh + ky - pt, ox * l->sw + kx - pl);
          if (px == NULL) continue;
          n++;
          if (is_max) {
            for (int c = 0; c < ys.c; c++) o[c] = px[c] > o[c] ? px[c] : o[c];
          } else {
            for (int c = 0; c < ys.c; c++) o[c] += px[c];
          }
        }
      }
      if (!is_max && n > 0) {
        for (int c = 0; c < ys.c; c++) o[c] /= (float)n;
      }
    }
  }
}

static float act(nn_act a, float v) {
  switch (a) {
    case NN_ACT_RELU:
      return v > 0.0f ? v : 0.0f;
    case NN_ACT_RELU6:
      return v < 0.0f ? 0.0f : v > 6.0f ? 6.0f : v;
    case NN_ACT_LEAKY: {
      float m = v * NN_LEAKY_ALPHA;
      float d = v - m;
      return (d > 0.0f ? d : 0.0f) + m;
    }
  }
  return v;
}

void custos__nn_ref_layer(const nn_layer *l, const nn_shape *in_shapes, const float *const *in,
                          nn_shape ys, float *y) {
  nn_shape xs = in_shapes[0];
  const float *x = in[0];
  size_t n = nn_shape_count(ys);
  switch (l->op) {
    case NN_OP_NORMALIZE:
      for (size_t p = 0; p < n; p += (size_t)xs.c) {
        for (int c = 0; c < xs.c; c++) y[p + c] = (x[p + c] - l->sub[c]) / l->div - l->post;
      }
      break;
    case NN_OP_CONV:
      conv(l, xs, x, ys, y);
      break;
    case NN_OP_SCALE:
      for (size_t p = 0; p < n; p += (size_t)ys.c) {
        for (int c = 0; c < ys.c; c++) y[p + c] = x[p + c] * l->w[c] + l->b[c];
      }
      break;
    case NN_OP_BATCHNORM:
      for (size_t p = 0; p < n; p += (size_t)ys.c) {
        for (int c = 0; c < ys.c; c++) {
          y[p + c] =
              (x[p + c] - l->mean[c]) * (l->gamma[c] / sqrtf(l->var[c] + l->eps)) + l->beta[c];
        }
      }
      break;
    case NN_OP_ACT:
      for (size_t i = 0; i < n; i++) y[i] = act(l->act, x[i]);
      break;
    case NN_OP_ADD:
      for (size_t i = 0; i < n; i++) y[i] = x[i] + in[1][i];
      break;
    case NN_OP_MAXPOOL:
    case NN_OP_AVGPOOL:
      pool(l, xs, x, ys, y);
      break;
    case NN_OP_PAD_CHANNELS:
      for (size_t p = 0; p < (size_t)ys.h * ys.w; p++) {
        memcpy(y + p * ys.c, x + p * xs.c, (size_t)xs.c * sizeof *y);
        memset(y + p * ys.c + xs.c, 0, (size_t)(ys.c - xs.c) * sizeof *y);
      }
      break;
    case NN_OP_PAD_SPATIAL:
      memset(y, 0, n * sizeof *y);
      for (int r = 0; r < xs.h; r++) {
        memcpy(y + (size_t)r * ys.w * ys.c, x + (size_t)r * xs.w * xs.c,
               (size_t)xs.w * xs.c * sizeof *y);
      }
      break;
    case NN_OP_MEAN: {
      size_t np = (size_t)xs.h * xs.w;
      for (int c = 0; c < xs.c; c++) {
        float s = 0.0f;
        for (size_t p = 0; p < np; p++) s += x[p * xs.c + c];
        y[c] = s / (float)np;
      }
      break;
    }
    case NN_OP_FC:
      for (int o = 0; o < l->cout; o++) y[o] = 0.0f;
      for (int i = 0; i < l->cin; i++) {
        const float *wr = l->w + (size_t)i * l->cout;
        for (int o = 0; o < l->cout; o++) y[o] += x[i] * wr[o];
      }
      if (l->b != NULL) {
        for (int o = 0; o < l->cout; o++) y[o] += l->b[o];
      }
      break;
    case NN_OP_CONCAT: {
      size_t off = 0;
      for (int i = 0; i < l->n_in; i++) {
        size_t m = nn_shape_count(in_shapes[i]);
        memcpy(y + off, in[i], m * sizeof *y);
        off += m;
      }
      break;
    }
  }
}

/* ---- the backend ---------------------------------------------------------- */

typedef struct ref_state {
  const nn_graph *g;
  nn_shape *shapes; /* n_layers + 1 */
  float **vals;     /* n_layers + 1; vals[0] points at the caller's input during run */
} ref_state;

static void ref_free(void *p) {
  ref_state *s = p;
  if (s == NULL) return;
  if (s->vals != NULL) {
    for (int i = 1; i <= s->g->n_layers; i++) custos__free(s->vals[i]);
  }
  custos__free(s->vals);
  custos__free(s->shapes);
  custos__free(s);
}

static int ref_build(const nn_graph *g, int in_h, int in_w, void **out, custos_err *err) {
  int rc = CUSTOS_OK;
  *out = NULL;
  ref_state *s = custos__calloc(1, sizeof *s);
  if (s == NULL) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  s->g = g;
  s->shapes = custos__calloc((size_t)g->n_layers + 1, sizeof *s->shapes);
  s->vals = custos__calloc((size_t)g->n_layers + 1, sizeof *s->vals);
  if (s->shapes == NULL || s->vals == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
    goto out;
  }
  rc = custos__nn_graph_shapes(g, in_h, in_w, s->shapes, err);
  if (rc != CUSTOS_OK) goto out;
  for (int i = 1; i <= g->n_layers; i++) {
    s->vals[i] = custos__mallocarray(nn_shape_count(s->shapes[i]), sizeof(float));
    if (s->vals[i] == NULL) {
      rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
      goto out;
    }
  }
  *out = s;
  s = NULL;
out:
  ref_free(s);
  return rc;
}

static int ref_run(void *p, const float *input, float *const *outs, custos_err *err) {
  (void)err;
  ref_state *s = p;
  const nn_graph *g = s->g;
  s->vals[0] = (float *)input; /* only read */
  for (int k = 0; k < g->n_layers; k++) {
    const nn_layer *l = &g->layers[k];
    nn_shape in_shapes[NN_MAX_INPUTS];
    const float *in[NN_MAX_INPUTS];
    for (int i = 0; i < l->n_in; i++) {
      in_shapes[i] = s->shapes[l->in[i]];
      in[i] = s->vals[l->in[i]];
    }
    custos__nn_ref_layer(l, in_shapes, in, s->shapes[k + 1], s->vals[k + 1]);
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int v = g->outputs[i];
    memcpy(outs[i], s->vals[v], nn_shape_count(s->shapes[v]) * sizeof(float));
  }
  s->vals[0] = NULL;
  return CUSTOS_OK;
}

static int ref_describe(const void *p, custos_buf *b) {
  const ref_state *s = p;
  for (int k = 0; k < s->g->n_layers; k++) {
    const nn_layer *l = &s->g->layers[k];
    nn_shape y = s->shapes[k + 1];
    int rc = custos__buf_appendf(b, "%3d ref op %d %s -> %dx%dx%d\n", k + 1, (int)l->op,
                                 l->name ? l->name : "", y.h, y.w, y.c);
    if (rc != CUSTOS_OK) return rc;
  }
  return CUSTOS_OK;
}

const nn_backend custos__nn_backend_reference = {
    .name = "reference",
    .build = ref_build,
    .run = ref_run,
    .describe = ref_describe,
    .free_state = ref_free,
};
