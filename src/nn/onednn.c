/*
 * The oneDNN backend (oneDNN 2.6 C API): compiles a layer description once
 * into a list of steps, each a oneDNN primitive or, for the few small ops
 * oneDNN has no primitive for, a call to the reference kernel on NHWC data.
 *
 * Compilation (dn_build), layer by layer:
 *   - A convolution absorbs what follows it when it is the only reader of
 *     each intermediate value: scale layers and batch norms are folded into
 *     its weights and bias (in double, then rounded to float); an activation
 *     becomes an eltwise post-op; a residual add becomes a sum post-op that
 *     accumulates into the other operand's buffer (in place when that operand
 *     is not read again, else into a copy), optionally followed by an
 *     activation post-op.
 *   - Layouts are left to oneDNN (dnnl_format_tag_any for sources, weights
 *     and destinations), so activations stay in its blocked layouts (nChw8c
 *     with the AVX2 kernels); a reorder is inserted only where a consumer
 *     wants another layout than its producer gave: after the input
 *     normalisation, around the C ops, and for the outputs.
 *   - Weights are reordered into the primitive's layout at build time.
 *
 * Memory: every activation buffer is a slice of one arena.  Each buffer's
 * lifetime (first to last step using it) is known after compilation, and
 * buffers whose lifetimes do not overlap share space (plan_arena).
 * Primitives use a user-provided scratchpad (one buffer, the largest any
 * step needs), so dn_run allocates nothing.
 *
 * Threads: oneDNN on OpenMP sizes its kernels for the thread count at
 * creation.  A state remembers omp_get_max_threads() of the thread that
 * built it and runs with that count, so results are reproducible bit for bit
 * for a given build.
 */
#include <assert.h>
#include <dnnl.h>
#include <dnnl_debug.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "nn/nnInt.h"

#define MAX_ARGS 6
#define ALIGN 64

typedef struct dn_tensor {
  dnnl_memory_desc_t md; /* layout */
  size_t bytes;          /* dnnl_memory_desc_get_size, rounded up to ALIGN */
  size_t offset;         /* in the arena */
  int first, last;       /* first and last step using it; -1 before planning */
  dnnl_memory_t mem;     /* created once the arena exists */
} dn_tensor;

typedef struct dn_step {
  bool host;     /* a reference kernel on NHWC tensors, not a primitive */
  int layer;     /* the graph layer the step runs or feeds; -1: the input copy */
  char what[24]; /* "conv", "reorder", ... for describe */
  /* primitive steps */
  dnnl_primitive_t prim;
  int n_args;
  int arg_name[MAX_ARGS];             /* DNNL_ARG_... */
  int arg_tensor[MAX_ARGS];           /* activation tensor, or -1 for arg_fixed */
  dnnl_memory_t arg_fixed[MAX_ARGS];  /* weights, bias (owned by the state's fixed list) */
  dnnl_exec_arg_t args[MAX_ARGS + 1]; /* filled once the arena exists */
  dnnl_memory_desc_t scratch_md;      /* zero when none */
  dnnl_memory_t scratch_mem;
  /* host steps: inputs (tensor ids, -1 = the caller's input) and output */
  int n_in;
  int in_t[NN_MAX_INPUTS];
  int out_t;
} dn_step;

typedef struct dn_state {
  const nn_graph *g;
  nn_shape *shapes; /* n_layers + 1 */
  int nthr;         /* OpenMP threads the primitives were built for */
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  dn_tensor *t;
  int n_t, cap_t;
  dn_step *s;
  int n_s, cap_s;
  dnnl_memory_t *fixed; /* weights and biases */
  int n_fixed, cap_fixed;
  int *val_t;                /* tensor holding each value in its producer's layout, -1 */
  int *val_nhwc;             /* NHWC copy of a value, -1 */
  int *val_alt;              /* copy in the layout some primitive asked for, -1 */
  int *n_uses;               /* layers reading each value (+1 for an output) */
  int *consumer;             /* the last layer reading each value */
  int *last_use;             /* same, n_layers for outputs */
  bool *done;                /* layer absorbed into an earlier step */
  int out_t[NN_MAX_OUTPUTS]; /* NHWC tensors of the outputs */
  void *arena_raw;
  char *arena;
  size_t arena_bytes;
  void *scratch_raw;
  char *scratch;
  size_t scratch_bytes;
} dn_state;

static int dn_fail(custos_err *err, dnnl_status_t st, const char *what, const nn_layer *l) {
  if (st == dnnl_out_of_memory) {
    return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "oneDNN: out of memory");
  }
  return custos__err(err, CUSTOS_EINTERNAL, NN_MOD, "oneDNN %s failed (%s)%s%s", what,
                     dnnl_status2str(st), l && l->name ? " at layer " : "",
                     l && l->name ? l->name : "");
}

#define DN(call, what, layer)              \
  do {                                     \
    dnnl_status_t st_ = (call);            \
    if (st_ != dnnl_success) {             \
      rc = dn_fail(err, st_, what, layer); \
      goto out;                            \
    }                                      \
  } while (0)

static void *grow(void *p, int *cap, int need, size_t size) {
  if (need <= *cap) return p;
  int c = *cap ? *cap * 2 : 64;
  while (c < need) c *= 2;
  void *q = custos__reallocarray(p, (size_t)c, size);
  if (q != NULL) *cap = c;
  return q;
}

static int new_tensor(dn_state *st, const dnnl_memory_desc_t *md) {
  dn_tensor *t = grow(st->t, &st->cap_t, st->n_t + 1, sizeof *t);
  if (t == NULL) return -1;
  st->t = t;
  dn_tensor *x = &st->t[st->n_t];
  memset(x, 0, sizeof *x);
  x->md = *md;
  size_t b = dnnl_memory_desc_get_size(md);
  x->bytes = (b + ALIGN - 1) / ALIGN * ALIGN;
  x->first = x->last = -1;
  return st->n_t++;
}

static dn_step *new_step(dn_state *st, const char *what, int layer) {
  dn_step *s = grow(st->s, &st->cap_s, st->n_s + 1, sizeof *s);
  if (s == NULL) return NULL;
  st->s = s;
  dn_step *x = &st->s[st->n_s++];
  memset(x, 0, sizeof *x);
  snprintf(x->what, sizeof x->what, "%s", what);
  x->layer = layer;
  x->out_t = -1;
  return x;
}

static int keep_fixed(dn_state *st, dnnl_memory_t m) {
  dnnl_memory_t *f = grow(st->fixed, &st->cap_fixed, st->n_fixed + 1, sizeof *f);
  if (f == NULL) return CUSTOS_ENOMEM;
  st->fixed = f;
  st->fixed[st->n_fixed++] = m;
  return CUSTOS_OK;
}

static void step_arg(dn_step *s, int name, int tensor, dnnl_memory_t fixed) {
  assert(s->n_args < MAX_ARGS);
  s->arg_name[s->n_args] = name;
  s->arg_tensor[s->n_args] = tensor;
  s->arg_fixed[s->n_args] = fixed;
  s->n_args++;
}

static dnnl_memory_desc_t nhwc_md(nn_shape sh) {
  dnnl_memory_desc_t md;
  dnnl_dims_t d = {1, sh.c, sh.h, sh.w};
  dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_nhwc);
  return md;
}

static dnnl_memory_desc_t any_md(int c, int h, int w) {
  dnnl_memory_desc_t md;
  dnnl_dims_t d = {1, c, h, w};
  dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_format_tag_any);
  return md;
}

/* Creates the primitive of pd as a new step (pd stays the caller's). */
static int prim_step(dn_state *st, const_dnnl_primitive_desc_t pd, const char *what, int layer,
                     dn_step **out, custos_err *err) {
  int rc = CUSTOS_OK;
  const nn_layer *l = layer >= 0 ? &st->g->layers[layer] : NULL;
  dn_step *s = new_step(st, what, layer);
  if (s == NULL) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  DN(dnnl_primitive_create(&s->prim, pd), what, l);
  const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  if (sp != NULL && dnnl_memory_desc_get_size(sp) > 0) {
    s->scratch_md = *sp;
    size_t b = dnnl_memory_desc_get_size(sp);
    if (b > st->scratch_bytes) st->scratch_bytes = b;
  }
  *out = s;
out:
  return rc;
}

static int attr_new(dnnl_primitive_attr_t *attr, dnnl_post_ops_t po) {
  if (dnnl_primitive_attr_create(attr) != dnnl_success) return -1;
  if (dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user) != dnnl_success ||
      (po != NULL && dnnl_primitive_attr_set_post_ops(*attr, po) != dnnl_success)) {
    dnnl_primitive_attr_destroy(*attr);
    *attr = NULL;
    return -1;
  }
  return 0;
}

/* A reorder step from tensor a to tensor b. */
static int reorder_step(dn_state *st, int a, int b, int layer, custos_err *err) {
  int rc = CUSTOS_OK;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dn_step *s;
  if (attr_new(&attr, NULL) != 0) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  DN(dnnl_reorder_primitive_desc_create(&pd, &st->t[a].md, st->eng, &st->t[b].md, st->eng, attr),
     "reorder", NULL);
  rc = prim_step(st, pd, "reorder", layer, &s, err);
  if (rc != CUSTOS_OK) goto out;
  step_arg(s, DNNL_ARG_FROM, a, NULL);
  step_arg(s, DNNL_ARG_TO, b, NULL);
out:
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_attr_destroy(attr);
  return rc;
}

/* The tensor holding value v in layout want, adding a reorder when needed. */
static int tensor_as(dn_state *st, int v, const dnnl_memory_desc_t *want, int layer, int *out,
                     custos_err *err) {
  int c = st->val_t[v];
  assert(c >= 0);
  if (dnnl_memory_desc_equal(&st->t[c].md, want)) {
    *out = c;
    return CUSTOS_OK;
  }
  dnnl_memory_desc_t nhwc = nhwc_md(st->shapes[v]);
  bool is_nhwc = dnnl_memory_desc_equal(&nhwc, want);
  int *cache = is_nhwc ? &st->val_nhwc[v] : &st->val_alt[v];
  if (*cache >= 0 && dnnl_memory_desc_equal(&st->t[*cache].md, want)) {
    *out = *cache;
    return CUSTOS_OK;
  }
  int t = new_tensor(st, want);
  if (t < 0) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  int rc = reorder_step(st, c, t, layer, err);
  if (rc != CUSTOS_OK) return rc;
  *cache = t;
  *out = t;
  return CUSTOS_OK;
}

static int nhwc_tensor(dn_state *st, int v, int layer, int *out, custos_err *err) {
  dnnl_memory_desc_t md = nhwc_md(st->shapes[v]);
  return tensor_as(st, v, &md, layer, out, err);
}

/* The single layer reading value v, or -1 when v has several readers or is
 * an output. */
static int sole_consumer(const dn_state *st, int v) {
  return st->n_uses[v] == 1 ? st->consumer[v] : -1;
}

static void eltwise_params(nn_act a, dnnl_alg_kind_t *alg, float *alpha, float *beta) {
  *beta = 0.0f;
  switch (a) {
    case NN_ACT_RELU6:
      *alg = dnnl_eltwise_clip;
      *alpha = 0.0f;
      *beta = 6.0f;
      return;
    case NN_ACT_LEAKY:
      *alg = dnnl_eltwise_relu;
      *alpha = NN_LEAKY_ALPHA;
      return;
    case NN_ACT_RELU:
    default:
      *alg = dnnl_eltwise_relu;
      *alpha = 0.0f;
      return;
  }
}

/* Runs a reorder now (weights at build time). */
static int reorder_now(dn_state *st, dnnl_memory_t from, dnnl_memory_t to, custos_err *err) {
  int rc = CUSTOS_OK;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t p = NULL;
  const dnnl_memory_desc_t *a, *b;
  DN(dnnl_memory_get_memory_desc(from, &a), "memory", NULL);
  DN(dnnl_memory_get_memory_desc(to, &b), "memory", NULL);
  DN(dnnl_reorder_primitive_desc_create(&pd, a, st->eng, b, st->eng, NULL), "reorder", NULL);
  DN(dnnl_primitive_create(&p, pd), "reorder", NULL);
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  DN(dnnl_primitive_execute(p, st->stream, 2, args), "reorder", NULL);
  DN(dnnl_stream_wait(st->stream), "stream", NULL);
out:
  dnnl_primitive_destroy(p);
  dnnl_primitive_desc_destroy(pd);
  return rc;
}

/*
 * A convolution and what it absorbs.  Marks absorbed layers done and maps the
 * last absorbed value to the output tensor.
 */
static int build_conv(dn_state *st, int k, custos_err *err) {
  int rc = CUSTOS_OK;
  const nn_graph *g = st->g;
  const nn_layer *l = &g->layers[k];
  nn_shape xs = st->shapes[l->in[0]], ys = st->shapes[k + 1];
  int co = l->cout, ci = l->cin, kh = l->kh, kw = l->kw;
  double *scale = NULL, *shift = NULL;
  float *w = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_memory_t user_w = NULL, wmem = NULL, bmem = NULL;

  scale = custos__mallocarray((size_t)co, sizeof *scale);
  shift = custos__mallocarray((size_t)co, sizeof *shift);
  size_t wn = (size_t)kh * kw * (l->depthwise ? 1 : ci) * co;
  w = custos__mallocarray(wn, sizeof *w);
  if (scale == NULL || shift == NULL || w == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
    goto out;
  }
  for (int c = 0; c < co; c++) {
    scale[c] = 1.0;
    shift[c] = l->b ? l->b[c] : 0.0;
  }

  /* Fold scale layers and batch norms. */
  int v = k + 1;
  int c_layer;
  while ((c_layer = sole_consumer(st, v)) >= 0 &&
         (g->layers[c_layer].op == NN_OP_SCALE || g->layers[c_layer].op == NN_OP_BATCHNORM)) {
    const nn_layer *f = &g->layers[c_layer];
    for (int c = 0; c < co; c++) {
      if (f->op == NN_OP_SCALE) {
        scale[c] *= f->w[c];
        shift[c] = shift[c] * f->w[c] + f->b[c];
      } else {
        double m = (double)f->gamma[c] / sqrt((double)f->var[c] + (double)f->eps);
        scale[c] *= m;
        shift[c] = (shift[c] - f->mean[c]) * m + f->beta[c];
      }
    }
    st->done[c_layer] = true;
    v = c_layer + 1;
  }

  /* Post-ops: activation, or residual sum then optional activation. */
  if (dnnl_post_ops_create(&po) != dnnl_success) {
    rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
    goto out;
  }
  int sum_with = -1;  /* the value the result is added to */
  int add_layer = -1; /* the add absorbed */
  c_layer = sole_consumer(st, v);
  if (c_layer >= 0 && g->layers[c_layer].op == NN_OP_ACT) {
    dnnl_alg_kind_t alg;
    float a, b;
    eltwise_params(g->layers[c_layer].act, &alg, &a, &b);
    DN(dnnl_post_ops_append_eltwise(po, 1.0f, alg, a, b), "post-op", l);
    st->done[c_layer] = true;
    v = c_layer + 1;
  } else if (c_layer >= 0 && g->layers[c_layer].op == NN_OP_ADD) {
    const nn_layer *a = &g->layers[c_layer];
    int o = a->in[0] == v ? a->in[1] : a->in[0];
    if (o <= k && st->val_t[o] >= 0) { /* the other operand exists before this conv runs */
      sum_with = o;
      add_layer = c_layer;
      DN(dnnl_post_ops_append_sum(po, 1.0f), "post-op", l);
      st->done[c_layer] = true;
      v = c_layer + 1;
      c_layer = sole_consumer(st, v);
      if (c_layer >= 0 && g->layers[c_layer].op == NN_OP_ACT) {
        dnnl_alg_kind_t alg;
        float al, be;
        eltwise_params(g->layers[c_layer].act, &alg, &al, &be);
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, alg, al, be), "post-op", l);
        st->done[c_layer] = true;
        v = c_layer + 1;
      }
    }
  }
  if (attr_new(&attr, po) != 0) {
    rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
    goto out;
  }

  /* Folded weights in oihw (goihw for depthwise), from HWIO. */
  for (int y = 0; y < kh; y++) {
    for (int x = 0; x < kw; x++) {
      for (int o = 0; o < co; o++) {
        if (l->depthwise) {
          w[((size_t)o * kh + y) * kw + x] =
              (float)(l->w[((size_t)y * kw + x) * co + o] * scale[o]);
          continue;
        }
        for (int i = 0; i < ci; i++) {
          w[(((size_t)o * ci + i) * kh + y) * kw + x] =
              (float)(l->w[(((size_t)y * kw + x) * ci + i) * co + o] * scale[o]);
        }
      }
    }
  }

  dnnl_dims_t strides = {l->sh, l->sw};
  int pt = custos__nn_pad_l(xs.h, kh, l->sh, l->pad),
      pl = custos__nn_pad_l(xs.w, kw, l->sw, l->pad);
  dnnl_dims_t pad_l = {pt, pl};
  dnnl_dims_t pad_r = {(ys.h - 1) * l->sh + kh - xs.h - pt, (ys.w - 1) * l->sw + kw - xs.w - pl};
  dnnl_memory_desc_t wmd_any, bmd, dmd = any_md(co, ys.h, ys.w), wmd_user;
  if (l->depthwise) {
    dnnl_dims_t wd = {co, 1, 1, kh, kw};
    dnnl_memory_desc_init_by_tag(&wmd_any, 5, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wmd_user, 5, wd, dnnl_f32, dnnl_goihw);
  } else {
    dnnl_dims_t wd = {co, ci, kh, kw};
    dnnl_memory_desc_init_by_tag(&wmd_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wmd_user, 4, wd, dnnl_f32, dnnl_oihw);
  }
  dnnl_dims_t bd = {co};
  dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);

  /* Every layout is oneDNN's choice; the source is reordered if needed. */
  dnnl_convolution_desc_t cd;
  dnnl_memory_desc_t smd = any_md(ci, xs.h, xs.w);
  DN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &smd,
                                        &wmd_any, &bmd, &dmd, strides, pad_l, pad_r),
     "convolution", l);
  DN(dnnl_primitive_desc_create(&pd, &cd, attr, st->eng, NULL), "convolution", l);
  const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  int src_t;
  rc = tensor_as(st, l->in[0], src_md, k, &src_t, err);
  if (rc != CUSTOS_OK) goto out;

  /* Weights and bias, now. */
  DN(dnnl_memory_create(&user_w, &wmd_user, st->eng, w), "memory", l);
  DN(dnnl_memory_create(&wmem, w_md, st->eng, DNNL_MEMORY_ALLOCATE), "memory", l);
  rc = keep_fixed(st, wmem);
  if (rc != CUSTOS_OK) {
    dnnl_memory_destroy(wmem);
    rc = custos__err(err, rc, NN_MOD, "out of memory");
    goto out;
  }
  rc = reorder_now(st, user_w, wmem, err);
  if (rc != CUSTOS_OK) goto out;
  DN(dnnl_memory_create(&bmem, &bmd, st->eng, DNNL_MEMORY_ALLOCATE), "memory", l);
  rc = keep_fixed(st, bmem);
  if (rc != CUSTOS_OK) {
    dnnl_memory_destroy(bmem);
    rc = custos__err(err, rc, NN_MOD, "out of memory");
    goto out;
  }
  void *bh = NULL;
  DN(dnnl_memory_get_data_handle(bmem, &bh), "memory", l);
  for (int c = 0; c < co; c++) ((float *)bh)[c] = (float)shift[c];

  /* Destination: a new tensor, or the residual operand's buffer. */
  int dst_t;
  if (sum_with >= 0) {
    int ot = st->val_t[sum_with];
    bool in_place = st->last_use[sum_with] == add_layer && ot != src_t &&
                    dnnl_memory_desc_equal(&st->t[ot].md, dst_md);
    if (in_place) {
      dst_t = ot;
    } else {
      int from;
      rc = tensor_as(st, sum_with, dst_md, k, &from, err);
      if (rc != CUSTOS_OK) goto out;
      if (from != ot && st->last_use[sum_with] == add_layer && from != src_t) {
        dst_t = from; /* the layout copy is ours to overwrite */
      } else {
        dst_t = new_tensor(st, dst_md);
        if (dst_t < 0) {
          rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
          goto out;
        }
        rc = reorder_step(st, from, dst_t, k, err);
        if (rc != CUSTOS_OK) goto out;
      }
    }
  } else {
    dst_t = new_tensor(st, dst_md);
    if (dst_t < 0) {
      rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
      goto out;
    }
  }
  dn_step *s;
  rc = prim_step(st, pd, l->depthwise ? "conv-dw" : "conv", k, &s, err);
  if (rc != CUSTOS_OK) goto out;
  step_arg(s, DNNL_ARG_SRC, src_t, NULL);
  step_arg(s, DNNL_ARG_WEIGHTS, -1, wmem);
  step_arg(s, DNNL_ARG_BIAS, -1, bmem);
  step_arg(s, DNNL_ARG_DST, dst_t, NULL);
  st->val_t[v] = dst_t;
out:
  dnnl_memory_destroy(user_w);
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_attr_destroy(attr);
  dnnl_post_ops_destroy(po);
  custos__free(w);
  custos__free(scale);
  custos__free(shift);
  return rc;
}

/* Adds the step of pd (named what) for layer k: it reads tensor src_t into a
 * new tensor of layout dmd, which becomes value k + 1.  pd stays the caller's. */
static int unary_step(dn_state *st, const_dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *dmd,
                      const char *what, int k, int src_t, custos_err *err) {
  int dst_t = new_tensor(st, dmd);
  if (dst_t < 0) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  dn_step *s;
  int rc = prim_step(st, pd, what, k, &s, err);
  if (rc != CUSTOS_OK) return rc;
  step_arg(s, DNNL_ARG_SRC, src_t, NULL);
  step_arg(s, DNNL_ARG_DST, dst_t, NULL);
  st->val_t[k + 1] = dst_t;
  return CUSTOS_OK;
}

static int build_pool(dn_state *st, int k, custos_err *err) {
  int rc = CUSTOS_OK;
  const nn_layer *l = &st->g->layers[k];
  nn_shape xs = st->shapes[l->in[0]], ys = st->shapes[k + 1];
  dnnl_primitive_attr_t attr = NULL;
  dnnl_primitive_desc_t pd = NULL;
  if (attr_new(&attr, NULL) != 0) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  int src_t = st->val_t[l->in[0]];
  dnnl_memory_desc_t dmd = any_md(ys.c, ys.h, ys.w);
  dnnl_dims_t strides = {l->sh, l->sw}, kernel = {l->kh, l->kw};
  int pt = custos__nn_pad_l(xs.h, l->kh, l->sh, l->pad);
  int pl = custos__nn_pad_l(xs.w, l->kw, l->sw, l->pad);
  int pb = (ys.h - 1) * l->sh + l->kh - xs.h - pt, pr = (ys.w - 1) * l->sw + l->kw - xs.w - pl;
  /* oneDNN's output size rounds down, so unused trailing input ('valid')
   * needs no negative padding here. */
  dnnl_dims_t pad_l = {pt, pl}, pad_r = {pb > 0 ? pb : 0, pr > 0 ? pr : 0};
  dnnl_pooling_desc_t pdsc;
  DN(dnnl_pooling_forward_desc_init(
         &pdsc, dnnl_forward_inference,
         l->op == NN_OP_MAXPOOL ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding,
         &st->t[src_t].md, &dmd, strides, kernel, pad_l, pad_r),
     "pooling", l);
  DN(dnnl_primitive_desc_create(&pd, &pdsc, attr, st->eng, NULL), "pooling", l);
  rc = unary_step(st, pd, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                  l->op == NN_OP_MAXPOOL ? "maxpool" : "avgpool", k, src_t, err);
out:
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_attr_destroy(attr);
  return rc;
}

static int build_act(dn_state *st, int k, custos_err *err) {
  int rc = CUSTOS_OK;
  const nn_layer *l = &st->g->layers[k];
  dnnl_primitive_attr_t attr = NULL;
  dnnl_primitive_desc_t pd = NULL;
  if (attr_new(&attr, NULL) != 0) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  int src_t = st->val_t[l->in[0]];
  dnnl_alg_kind_t alg;
  float a, b;
  eltwise_params(l->act, &alg, &a, &b);
  dnnl_eltwise_desc_t ed;
  DN(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &st->t[src_t].md, a, b),
     "eltwise", l);
  DN(dnnl_primitive_desc_create(&pd, &ed, attr, st->eng, NULL), "eltwise", l);
  rc = unary_step(st, pd, &st->t[src_t].md, "eltwise", k, src_t, err);
out:
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_attr_destroy(attr);
  return rc;
}

/* Any other op: the reference kernel on NHWC tensors. */
static int build_host(dn_state *st, int k, custos_err *err) {
  const nn_layer *l = &st->g->layers[k];
  int in_t[NN_MAX_INPUTS];
  for (int i = 0; i < l->n_in; i++) {
    if (l->in[i] == 0 && st->val_t[0] < 0) {
      in_t[i] = -1; /* the caller's input, NHWC already */
      continue;
    }
    int rc = nhwc_tensor(st, l->in[i], k, &in_t[i], err);
    if (rc != CUSTOS_OK) return rc;
  }
  dnnl_memory_desc_t md = nhwc_md(st->shapes[k + 1]);
  int out_t = new_tensor(st, &md);
  if (out_t < 0) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  dn_step *s = new_step(st, "c", k);
  if (s == NULL) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  s->host = true;
  s->n_in = l->n_in;
  memcpy(s->in_t, in_t, sizeof in_t[0] * (size_t)l->n_in);
  s->out_t = out_t;
  st->val_t[k + 1] = out_t;
  st->val_nhwc[k + 1] = out_t;
  return CUSTOS_OK;
}

/* ---- memory planning ---------------------------------------------------- */

static void touch(dn_state *st, int t, int step) {
  if (t < 0) return;
  dn_tensor *x = &st->t[t];
  if (x->first < 0 || step < x->first) x->first = step;
  if (step > x->last) x->last = step;
}

/* Assigns arena offsets, largest tensor first (TFLite's greedy-by-size
 * plan): each goes at the lowest offset where no tensor placed so far whose
 * lifetime overlaps its own is in the way. */
static int plan_arena(dn_state *st, custos_err *err) {
  int *order = custos__calloc((size_t)st->n_t + 1, sizeof *order);
  int *placed = custos__calloc((size_t)st->n_t + 1, sizeof *placed);
  if (order == NULL || placed == NULL) {
    custos__free(order);
    custos__free(placed);
    return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  }
  int n = 0;
  for (int i = 0; i < st->n_t; i++) {
    if (st->t[i].first >= 0) order[n++] = i;
  }
  for (int i = 1; i < n; i++) { /* insertion sort: bytes descending, then first use */
    int x = order[i], j = i;
    const dn_tensor *tx = &st->t[x];
    while (j > 0) {
      const dn_tensor *ty = &st->t[order[j - 1]];
      if (ty->bytes > tx->bytes || (ty->bytes == tx->bytes && ty->first <= tx->first)) break;
      order[j] = order[j - 1];
      j--;
    }
    order[j] = x;
  }
  int n_placed = 0;
  size_t top = 0;
  for (int i = 0; i < n; i++) {
    dn_tensor *t = &st->t[order[i]];
    size_t off = 0;
    int pos = 0;
    for (int j = 0; j < n_placed; j++) { /* placed is sorted by offset */
      const dn_tensor *p = &st->t[placed[j]];
      if (p->offset <= off) pos = j + 1;
      if (p->last < t->first || t->last < p->first) continue; /* never alive together */
      if (p->offset >= off + t->bytes) break;
      if (p->offset + p->bytes > off) off = p->offset + p->bytes;
    }
    t->offset = off;
    while (pos < n_placed && st->t[placed[pos]].offset <= off) pos++;
    memmove(&placed[pos + 1], &placed[pos], sizeof *placed * (size_t)(n_placed - pos));
    placed[pos] = order[i];
    n_placed++;
    if (off + t->bytes > top) top = off + t->bytes;
  }
  st->arena_bytes = top;
  custos__free(order);
  custos__free(placed);
  return CUSTOS_OK;
}

static void *aligned(size_t bytes, void **raw) {
  *raw = custos__malloc(bytes + ALIGN);
  if (*raw == NULL) return NULL;
  uintptr_t p = ((uintptr_t)*raw + ALIGN - 1) / ALIGN * ALIGN;
  return (void *)p;
}

/* ---- the backend ---------------------------------------------------------- */

static void dn_free(void *p) {
  dn_state *st = p;
  if (st == NULL) return;
  for (int i = 0; i < st->n_s; i++) {
    dnnl_primitive_destroy(st->s[i].prim);
    dnnl_memory_destroy(st->s[i].scratch_mem);
  }
  for (int i = 0; i < st->n_t; i++) dnnl_memory_destroy(st->t[i].mem);
  for (int i = 0; i < st->n_fixed; i++) dnnl_memory_destroy(st->fixed[i]);
  if (st->stream) dnnl_stream_destroy(st->stream);
  if (st->eng) dnnl_engine_destroy(st->eng);
  custos__free(st->s);
  custos__free(st->t);
  custos__free(st->fixed);
  custos__free(st->shapes);
  custos__free(st->val_t);
  custos__free(st->val_nhwc);
  custos__free(st->val_alt);
  custos__free(st->n_uses);
  custos__free(st->consumer);
  custos__free(st->last_use);
  custos__free(st->done);
  custos__free(st->arena_raw);
  custos__free(st->scratch_raw);
  custos__free(st);
}

static int dn_build(const nn_graph *g, int in_h, int in_w, void **out, custos_err *err) {
  int rc = CUSTOS_OK;
  *out = NULL;
  dn_state *st = custos__calloc(1, sizeof *st);
  if (st == NULL) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  st->g = g;
  st->nthr = omp_get_max_threads();
  size_t nv = (size_t)g->n_layers + 1;
  st->shapes = custos__calloc(nv, sizeof *st->shapes);
  st->val_t = custos__mallocarray(nv, sizeof(int));
  st->val_nhwc = custos__mallocarray(nv, sizeof(int));
  st->val_alt = custos__mallocarray(nv, sizeof(int));
  st->n_uses = custos__calloc(nv, sizeof(int));
  st->consumer = custos__calloc(nv, sizeof(int));
  st->last_use = custos__calloc(nv, sizeof(int));
  st->done = custos__calloc(nv, sizeof(bool));
  if (st->shapes == NULL || st->val_t == NULL || st->val_nhwc == NULL || st->val_alt == NULL ||
      st->n_uses == NULL || st->consumer == NULL || st->last_use == NULL || st->done == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
    goto out;
  }
  rc = custos__nn_graph_shapes(g, in_h, in_w, st->shapes, err);
  if (rc != CUSTOS_OK) goto out;
  for (size_t v = 0; v < nv; v++) st->val_t[v] = st->val_nhwc[v] = st->val_alt[v] = -1;
  for (int k = 0; k < g->n_layers; k++) {
    for (int i = 0; i < g->layers[k].n_in; i++) {
      int v = g->layers[k].in[i];
      st->n_uses[v]++;
      st->consumer[v] = k;
      st->last_use[v] = k;
    }
  }
  for (int i = 0; i < g->n_outputs; i++) {
    st->n_uses[g->outputs[i]]++;
    st->last_use[g->outputs[i]] = g->n_layers;
  }
  DN(dnnl_engine_create(&st->eng, dnnl_cpu, 0), "engine", NULL);
  DN(dnnl_stream_create(&st->stream, st->eng, dnnl_stream_default_flags), "stream", NULL);

  /* The input: read in place by the first C op; anything else gets an NHWC
   * copy of it. */
  bool input_direct = true;
  for (int k = 0; k < g->n_layers; k++) {
    const nn_layer *l = &g->layers[k];
    for (int i = 0; i < l->n_in; i++) {
      if (l->in[i] == 0 && l->op != NN_OP_NORMALIZE) input_direct = false;
    }
  }
  for (int i = 0; i < g->n_outputs; i++) input_direct = input_direct && g->outputs[i] != 0;
  if (!input_direct) { /* a step that copies the caller's input into a tensor */
    dnnl_memory_desc_t md = nhwc_md(st->shapes[0]);
    int t = new_tensor(st, &md);
    if (t < 0) {
      rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
      goto out;
    }
    dn_step *s = new_step(st, "input", -1);
    if (s == NULL) {
      rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
      goto out;
    }
    s->host = true;
    s->out_t = t;
    st->val_t[0] = st->val_nhwc[0] = t;
  }

  for (int k = 0; k < g->n_layers && rc == CUSTOS_OK; k++) {
    if (st->done[k]) continue;
    switch (g->layers[k].op) {
      case NN_OP_CONV:
        rc = build_conv(st, k, err);
        break;
      case NN_OP_MAXPOOL:
      case NN_OP_AVGPOOL:
        rc = build_pool(st, k, err);
        break;
      case NN_OP_ACT:
        rc = build_act(st, k, err);
        break;
      default:
        rc = build_host(st, k, err);
        break;
    }
  }
  if (rc != CUSTOS_OK) goto out;
  for (int i = 0; i < g->n_outputs; i++) {
    rc = nhwc_tensor(st, g->outputs[i], g->outputs[i] - 1, &st->out_t[i], err);
    if (rc != CUSTOS_OK) goto out;
  }

  /* Lifetimes, arena, memory objects, arguments. */
  for (int i = 0; i < st->n_s; i++) {
    dn_step *s = &st->s[i];
    for (int a = 0; a < s->n_args; a++) touch(st, s->arg_tensor[a], i);
    for (int a = 0; a < s->n_in; a++) touch(st, s->in_t[a], i);
    touch(st, s->out_t, i);
  }
  for (int i = 0; i < g->n_outputs; i++) touch(st, st->out_t[i], st->n_s);
  rc = plan_arena(st, err);
  if (rc != CUSTOS_OK) goto out;
  st->arena = aligned(st->arena_bytes, &st->arena_raw);
  st->scratch = aligned(st->scratch_bytes, &st->scratch_raw);
  if (st->arena == NULL || st->scratch == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory (%zu bytes of activations)",
                     st->arena_bytes);
    goto out;
  }
  for (int i = 0; i < st->n_t; i++) {
    dn_tensor *t = &st->t[i];
    if (t->first < 0) continue;
    DN(dnnl_memory_create(&t->mem, &t->md, st->eng, st->arena + t->offset), "memory", NULL);
  }
  for (int i = 0; i < st->n_s; i++) {
    dn_step *s = &st->s[i];
    if (s->host) continue;
    for (int a = 0; a < s->n_args; a++) {
      s->args[a].arg = s->arg_name[a];
      s->args[a].memory = s->arg_tensor[a] >= 0 ? st->t[s->arg_tensor[a]].mem : s->arg_fixed[a];
    }
    if (dnnl_memory_desc_get_size(&s->scratch_md) > 0) {
      DN(dnnl_memory_create(&s->scratch_mem, &s->scratch_md, st->eng, st->scratch), "memory", NULL);
      s->args[s->n_args].arg = DNNL_ARG_SCRATCHPAD;
      s->args[s->n_args].memory = s->scratch_mem;
    }
  }
  *out = st;
  st = NULL;
out:
  dn_free(st);
  return rc;
}

static int dn_run(void *p, const float *input, float *const *outs, custos_err *err) {
  int rc = CUSTOS_OK;
  dn_state *st = p;
  const nn_graph *g = st->g;
  int prev = omp_get_max_threads();
  if (prev != st->nthr) omp_set_num_threads(st->nthr);
  for (int i = 0; i < st->n_s; i++) {
    dn_step *s = &st->s[i];
    if (!s->host) {
      int n = s->n_args + (s->scratch_mem != NULL);
      DN(dnnl_primitive_execute(s->prim, st->stream, n, s->args), s->what,
         s->layer >= 0 ? &g->layers[s->layer] : NULL);
      continue;
    }
    float *y = (float *)(st->arena + st->t[s->out_t].offset);
    if (s->layer < 0) { /* the input copy */
      memcpy(y, input, nn_shape_count(st->shapes[0]) * sizeof(float));
      continue;
    }
    const nn_layer *l = &g->layers[s->layer];
    nn_shape in_shapes[NN_MAX_INPUTS];
    const float *in[NN_MAX_INPUTS];
    for (int a = 0; a < s->n_in; a++) {
      in_shapes[a] = st->shapes[l->in[a]];
      in[a] = s->in_t[a] < 0 ? input : (const float *)(st->arena + st->t[s->in_t[a]].offset);
    }
    custos__nn_ref_layer(l, in_shapes, in, st->shapes[s->layer + 1], y);
  }
  DN(dnnl_stream_wait(st->stream), "stream", NULL);
  for (int i = 0; i < g->n_outputs; i++) {
    const dn_tensor *t = &st->t[st->out_t[i]];
    memcpy(outs[i], st->arena + t->offset,
           nn_shape_count(st->shapes[g->outputs[i]]) * sizeof(float));
  }
out:
  if (prev != st->nthr) omp_set_num_threads(prev);
  return rc;
}

static void md_str(char *b, size_t n, const dnnl_memory_desc_t *md) {
  if (md->format_kind != dnnl_blocked) {
    snprintf(b, n, "?");
    return;
  }
  const dnnl_blocking_desc_t *bl = &md->format_desc.blocking;
  /* outer order: dims by decreasing stride */
  int idx[DNNL_MAX_NDIMS];
  for (int i = 0; i < md->ndims; i++) idx[i] = i;
  for (int i = 1; i < md->ndims; i++) {
    for (int j = i; j > 0 && bl->strides[idx[j]] > bl->strides[idx[j - 1]]; j--) {
      int t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
  }
  static const char names[] = "abcdef";
  size_t o = 0;
  for (int i = 0; i < md->ndims && o + 1 < n; i++) b[o++] = names[idx[i]];
  for (int i = 0; i < bl->inner_nblks && o + 4 < n; i++) {
    o += (size_t)snprintf(b + o, n - o, "%d%c", (int)bl->inner_blks[i], names[bl->inner_idxs[i]]);
  }
  b[o < n ? o : n - 1] = '\0';
}

static int dn_describe(const void *p, custos_buf *b) {
  const dn_state *st = p;
  int rc = custos__buf_appendf(b,
                               "onednn: %d steps, %zu bytes of activations, %zu of scratch, "
                               "%d threads\n",
                               st->n_s, st->arena_bytes, st->scratch_bytes, st->nthr);
  for (int i = 0; i < st->n_s && rc == CUSTOS_OK; i++) {
    const dn_step *s = &st->s[i];
    const char *name =
        s->layer >= 0 && st->g->layers[s->layer].name ? st->g->layers[s->layer].name : "";
    const char *impl = "c";
    char fmt[64] = "nhwc";
    if (!s->host) {
      const_dnnl_primitive_desc_t pd = NULL;
      if (dnnl_primitive_get_primitive_desc(s->prim, &pd) == dnnl_success) {
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
      }
      for (int a = 0; a < s->n_args; a++) {
        if (s->arg_name[a] == DNNL_ARG_DST) md_str(fmt, sizeof fmt, &st->t[s->arg_tensor[a]].md);
      }
    }
    nn_shape y = s->layer >= 0 ? st->shapes[s->layer + 1] : st->shapes[0];
    rc = custos__buf_appendf(b, "%3d %-8s %-22s %-8s %dx%dx%d %s\n", i, s->what, impl, fmt, y.h,
                             y.w, y.c, name);
  }
  return rc;
}

const nn_backend custos__nn_backend_onednn = {
    .name = "onednn",
    .build = dn_build,
    .run = dn_run,
    .describe = dn_describe,
    .free_state = dn_free,
};
