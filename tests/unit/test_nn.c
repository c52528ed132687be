/*
 * Tests of the nn module (src/nn).
 *
 * Every op of the oneDNN backend is checked against the plain C reference
 * backend on random inputs and weights: small graphs of one op or one
 * pattern (each convolution form, depthwise, strides, both paddings, pools,
 * the residual and dense-block forms the networks use, the folded scale and
 * batch-norm layers).  Each of the four networks runs once on both backends
 * on a crop of models/demo/sample1.jpg.  The tolerance is 1e-4 of the
 * output's scale, max(1, max |reference|): both backends compute in float32
 * and differ only in summation order and in the folding of scale layers and
 * batch norms into the weights (rounding of about 1e-7 relative per layer;
 * the SSD's logits reach 25, where float32 itself resolves 2e-6).
 *
 * Hostile models (a copy of the tiny detector's files, edited) must fail
 * cleanly with CUSTOS_EMODEL or CUSTOS_ENOENT naming the tensor, and every
 * allocation failure must be reported, not crash or leak (the ASan build
 * runs the same tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custos/image.h"
#include "nn/nnInt.h"
#include "util/util.h"

#define MODELS CUSTOS_MODELS_DIR "/model"

/* ---- helpers -------------------------------------------------------------- */

/* Deterministic numbers (a 64-bit LCG), so a failure reproduces. */
static uint64_t rng_state = 1;

static float urand(float lo, float hi) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  double u = (double)(rng_state >> 11) / (double)(1ull << 53);
  return (float)(lo + (hi - lo) * u);
}

/* Arrays a test graph points to, freed together. */
typedef struct pool {
  float *p[64];
  int n;
} pool;

static float *rnd(pool *P, size_t n, float lo, float hi) {
  assert_true(P->n < 64);
  float *a = malloc(n * sizeof *a);
  assert_non_null(a);
  for (size_t i = 0; i < n; i++) a[i] = urand(lo, hi);
  P->p[P->n++] = a;
  return a;
}

static void pool_free(pool *P) {
  for (int i = 0; i < P->n; i++) free(P->p[i]);
  P->n = 0;
}

static double scale_of(const float *ref, size_t n) {
  double m = 1.0;
  for (size_t i = 0; i < n; i++) m = fabs(ref[i]) > m ? fabs(ref[i]) : m;
  return m;
}

/* Max |a - b| over n values; also asserts both are finite. */
static double max_diff(const float *a, const float *b, size_t n) {
  double d = 0.0;
  for (size_t i = 0; i < n; i++) {
    assert_true(isfinite(a[i]) && isfinite(b[i]));
    double x = fabs((double)a[i] - (double)b[i]);
    d = x > d ? x : d;
  }
  return d;
}

/* Builds g for in_h x in_w on both backends, runs one random input (values
 * in lo..hi) and compares every output. */
static void check_graph(const nn_graph *g, int in_h, int in_w, float lo, float hi,
                        const char *what) {
  custos_err err;
  void *ref = NULL, *dn = NULL;
  nn_shape *shapes = calloc((size_t)g->n_layers + 1, sizeof *shapes);
  assert_non_null(shapes);
  int rc = custos__nn_graph_shapes(g, in_h, in_w, shapes, &err);
  if (rc != CUSTOS_OK) fail_msg("%s: %s", what, err.message);
  rc = custos__nn_backend_reference.build(g, in_h, in_w, &ref, &err);
  if (rc != CUSTOS_OK) fail_msg("%s: reference: %s", what, err.message);
  rc = custos__nn_backend_onednn.build(g, in_h, in_w, &dn, &err);
  if (rc != CUSTOS_OK) fail_msg("%s: onednn: %s", what, err.message);
  size_t n_in = (size_t)in_h * in_w * g->in_c;
  float *in = malloc(n_in * sizeof *in);
  assert_non_null(in);
  for (size_t i = 0; i < n_in; i++) in[i] = urand(lo, hi);
  float *oa[NN_MAX_OUTPUTS], *ob[NN_MAX_OUTPUTS];
  size_t on[NN_MAX_OUTPUTS];
  for (int i = 0; i < g->n_outputs; i++) {
    on[i] = nn_shape_count(shapes[g->outputs[i]]);
    oa[i] = calloc(on[i], sizeof(float));
    ob[i] = calloc(on[i], sizeof(float));
    assert_true(oa[i] && ob[i]);
  }
  assert_int_equal(custos__nn_backend_reference.run(ref, in, ob, &err), CUSTOS_OK);
  assert_int_equal(custos__nn_backend_onednn.run(dn, in, oa, &err), CUSTOS_OK);
  for (int i = 0; i < g->n_outputs; i++) {
    double s = scale_of(ob[i], on[i]);
    double d = max_diff(oa[i], ob[i], on[i]);
    if (d > 1e-4 * s) {
      custos_buf b;
      custos__buf_init(&b, 1 << 16);
      custos__nn_backend_onednn.describe(dn, &b);
      fail_msg("%s: output %d differs by %g (scale %g)\n%s", what, i, d, s, b.data ? b.data : "");
    }
  }
  /* A second run gives the same bits: nothing carries over between runs. */
  assert_int_equal(custos__nn_backend_onednn.run(dn, in, ob, &err), CUSTOS_OK);
  for (int i = 0; i < g->n_outputs; i++) {
    assert_memory_equal(oa[i], ob[i], on[i] * sizeof(float));
    free(oa[i]);
    free(ob[i]);
  }
  custos_buf b;
  custos__buf_init(&b, 1 << 20);
  assert_int_equal(custos__nn_backend_onednn.describe(dn, &b), CUSTOS_OK);
  assert_int_equal(custos__nn_backend_reference.describe(ref, &b), CUSTOS_OK);
  custos__buf_free(&b);
  custos__nn_backend_onednn.free_state(dn);
  custos__nn_backend_reference.free_state(ref);
  free(in);
  free(shapes);
}

static int add_layer(nn_graph *g, nn_layer l) {
  int v = custos__nn_graph_add(g, &l);
  assert_true(v > 0);
  return v;
}

static nn_layer conv_layer(pool *P, int x, int k, int s, nn_padding pad, int cin, int cout, bool dw,
                           bool bias) {
  size_t wn = (size_t)k * k * (dw ? 1 : cin) * cout;
  float r = 1.0f / sqrtf((float)(k * k * (dw ? 1 : cin)));
  nn_layer l = {.op = NN_OP_CONV,
                .n_in = 1,
                .in = {x},
                .name = "conv",
                .kh = k,
                .kw = k,
                .sh = s,
                .sw = s,
                .pad = pad,
                .cin = cin,
                .cout = cout,
                .depthwise = dw};
  l.w = rnd(P, wn, -r, r);
  l.b = bias ? rnd(P, (size_t)cout, -0.5f, 0.5f) : NULL;
  return l;
}

static int act_layer(nn_graph *g, int x, nn_act a) {
  return add_layer(g, (nn_layer){.op = NN_OP_ACT, .n_in = 1, .in = {x}, .act = a});
}

static int add2(nn_graph *g, int a, int b) {
  return add_layer(g, (nn_layer){.op = NN_OP_ADD, .n_in = 2, .in = {a, b}});
}

static void finish(nn_graph *g, int out) {
  g->n_outputs = 1;
  g->outputs[0] = out;
}

/* ---- rules ---------------------------------------------------------------- */

static void test_padding_rules(void **state) {
  (void)state;
  /* TensorFlow: 'same' = ceil(in / s), the extra padding at the end. */
  assert_int_equal(custos__nn_out_size(512, 3, 2, NN_SAME), 256);
  assert_int_equal(custos__nn_pad_l(512, 3, 2, NN_SAME), 0); /* total 1: 0 left, 1 right */
  assert_int_equal(custos__nn_out_size(35, 3, 1, NN_SAME), 35);
  assert_int_equal(custos__nn_pad_l(35, 3, 1, NN_SAME), 1);
  assert_int_equal(custos__nn_out_size(207, 2, 2, NN_SAME), 104);
  assert_int_equal(custos__nn_pad_l(207, 2, 2, NN_SAME), 0);
  assert_int_equal(custos__nn_out_size(13, 2, 1, NN_SAME), 13);
  assert_int_equal(custos__nn_out_size(8, 1, 2, NN_SAME), 4);
  /* 'valid' = floor((in - k) / s) + 1, trailing input unused. */
  assert_int_equal(custos__nn_out_size(150, 7, 2, NN_VALID), 72);
  assert_int_equal(custos__nn_out_size(72, 3, 2, NN_VALID), 35);
  assert_int_equal(custos__nn_out_size(8, 3, 2, NN_VALID), 3);
  assert_int_equal(custos__nn_out_size(35, 2, 2, NN_VALID), 17);
  assert_int_equal(custos__nn_out_size(2, 3, 1, NN_VALID), 0);
  assert_int_equal(custos__nn_pad_l(150, 7, 2, NN_VALID), 0);
}

static void test_graph_checks(void **state) {
  (void)state;
  pool P = {0};
  custos_err err;
  nn_shape shapes[8];
  nn_graph g;
  custos__nn_graph_init(&g, 3);
  int c = add_layer(&g, conv_layer(&P, 0, 3, 1, NN_VALID, 4, 8, false, true)); /* cin 4 != 3 */
  finish(&g, c);
  assert_int_equal(custos__nn_graph_shapes(&g, 8, 8, shapes, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "input channels"));
  custos__nn_graph_free(&g);

  custos__nn_graph_init(&g, 3);
  c = add_layer(&g, conv_layer(&P, 0, 3, 1, NN_VALID, 3, 8, false, true));
  finish(&g, c);
  assert_int_equal(custos__nn_graph_shapes(&g, 2, 8, shapes, &err), CUSTOS_EINVAL); /* too small */
  assert_non_null(strstr(err.message, "too small"));
  assert_int_equal(custos__nn_graph_shapes(&g, 0, 8, shapes, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__nn_graph_shapes(&g, 3, 3, shapes, &err), CUSTOS_OK);
  assert_int_equal(shapes[1].h, 1);
  /* An input id that is not computed yet. */
  nn_layer bad = {.op = NN_OP_ACT, .n_in = 1, .in = {5}};
  add_layer(&g, bad);
  assert_int_equal(custos__nn_graph_shapes(&g, 8, 8, shapes, &err), CUSTOS_EINVAL);
  custos__nn_graph_free(&g);

  custos__nn_graph_init(&g, 3); /* adding different shapes */
  c = add_layer(&g, conv_layer(&P, 0, 3, 1, NN_VALID, 3, 3, false, true));
  finish(&g, add2(&g, c, 0));
  assert_int_equal(custos__nn_graph_shapes(&g, 8, 8, shapes, &err), CUSTOS_EINVAL);
  custos__nn_graph_free(&g);
  pool_free(&P);
}

/* ---- single ops, oneDNN against the reference ------------------------------ */

static void test_op_conv(void **state) {
  (void)state;
  static const struct {
    int h, w, k, s, cin, cout;
    nn_padding pad;
    bool bias;
    int act; /* -1 none */
  } cases[] = {
      {17, 17, 3, 1, 8, 16, NN_SAME, true, -1},            /* 3x3 'same' */
      {16, 16, 3, 2, 8, 16, NN_SAME, true, NN_ACT_RELU},   /* stride 2, even: pad 0 / 1 */
      {15, 15, 3, 2, 8, 8, NN_SAME, true, NN_ACT_RELU6},   /* stride 2, odd: pad 1 / 1 */
      {16, 16, 3, 2, 16, 8, NN_VALID, true, -1},           /* 'valid' s2: right pad -1 */
      {8, 8, 3, 2, 16, 16, NN_VALID, true, NN_ACT_RELU},   /* 8 -> 3 as in the recognition net */
      {30, 30, 7, 2, 3, 32, NN_VALID, true, NN_ACT_RELU},  /* the recognition stem, smaller */
      {19, 21, 3, 1, 3, 16, NN_VALID, true, NN_ACT_LEAKY}, /* the tiny stem, not square */
      {12, 12, 1, 1, 24, 40, NN_SAME, true, NN_ACT_RELU6}, /* pointwise */
      {12, 12, 1, 2, 16, 8, NN_SAME, false, -1},           /* pointwise, stride 2 */
      {9, 9, 1, 1, 32, 12, NN_SAME, true, -1},             /* an SSD head: odd channel count */
      {10, 10, 3, 1, 13, 5, NN_SAME, true, NN_ACT_LEAKY},  /* channels not a multiple of 8 */
      {4, 4, 3, 1, 32, 32, NN_SAME, true, NN_ACT_RELU},    /* tiny spatial size */
      {1, 1, 3, 1, 8, 8, NN_SAME, true, -1},               /* 1x1 input */
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cases); i++) {
    pool P = {0};
    nn_graph g;
    custos__nn_graph_init(&g, cases[i].cin);
    int v = add_layer(&g, conv_layer(&P, 0, cases[i].k, cases[i].s, cases[i].pad, cases[i].cin,
                                     cases[i].cout, false, cases[i].bias));
    if (cases[i].act >= 0) v = act_layer(&g, v, (nn_act)cases[i].act);
    finish(&g, v);
    char what[64];
    snprintf(what, sizeof what, "conv case %zu", i);
    check_graph(&g, cases[i].h, cases[i].w, -2.0f, 2.0f, what);
    custos__nn_graph_free(&g);
    pool_free(&P);
  }
}

static void test_op_depthwise(void **state) {
  (void)state;
  static const struct {
    int h, s, c;
    nn_padding pad;
    int act;
  } cases[] = {
      {16, 1, 32, NN_SAME, NN_ACT_RELU6}, {16, 2, 32, NN_SAME, NN_ACT_RELU6},
      {15, 2, 16, NN_SAME, -1},           {14, 1, 24, NN_VALID, NN_ACT_LEAKY},
      {9, 2, 8, NN_VALID, NN_ACT_RELU},   {7, 1, 12, NN_SAME, -1},
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cases); i++) {
    pool P = {0};
    nn_graph g;
    custos__nn_graph_init(&g, cases[i].c);
    int v = add_layer(&g, conv_layer(&P, 0, 3, cases[i].s, cases[i].pad, cases[i].c, cases[i].c,
                                     true, i % 2 == 0));
    if (cases[i].act >= 0) v = act_layer(&g, v, (nn_act)cases[i].act);
    finish(&g, v);
    char what[64];
    snprintf(what, sizeof what, "depthwise case %zu", i);
    check_graph(&g, cases[i].h, cases[i].h, -2.0f, 2.0f, what);
    custos__nn_graph_free(&g);
    pool_free(&P);
  }
}

/* The scale layer and the batch norm, folded into the weights by oneDNN. */
static void test_op_fold(void **state) {
  (void)state;
  pool P = {0};
  nn_graph g;
  /* recognition convLayer: conv + bias, scale, relu */
  custos__nn_graph_init(&g, 16);
  int v = add_layer(&g, conv_layer(&P, 0, 3, 1, NN_SAME, 16, 16, false, true));
  nn_layer s = {.op = NN_OP_SCALE, .n_in = 1, .in = {v}, .cin = 16};
  s.w = rnd(&P, 16, 0.5f, 6.0f);
  s.b = rnd(&P, 16, -2.0f, 2.0f);
  v = act_layer(&g, add_layer(&g, s), NN_ACT_RELU);
  finish(&g, v);
  check_graph(&g, 12, 12, -1.0f, 1.0f, "conv + scale + relu");
  custos__nn_graph_free(&g);

  /* SSD depthwiseConvLayer: depthwise, batch norm, clip 0..6 (a tiny
   * variance as in the real model) */
  custos__nn_graph_init(&g, 16);
  v = add_layer(&g, conv_layer(&P, 0, 3, 2, NN_SAME, 16, 16, true, false));
  nn_layer bn = {.op = NN_OP_BATCHNORM, .n_in = 1, .in = {v}, .cin = 16, .eps = 0.001f};
  float *var = rnd(&P, 16, 0.0f, 2.0f);
  var[3] = 3.9e-36f;
  bn.mean = rnd(&P, 16, -1.0f, 1.0f);
  bn.var = var;
  bn.gamma = rnd(&P, 16, 0.2f, 1.5f);
  bn.beta = rnd(&P, 16, -1.0f, 1.0f);
  v = act_layer(&g, add_layer(&g, bn), NN_ACT_RELU6);
  finish(&g, v);
  check_graph(&g, 16, 16, -2.0f, 2.0f, "depthwise + batchnorm + relu6");
  custos__nn_graph_free(&g);

  /* A scale layer on its own (runs as C), and one whose input has two readers
   * (cannot fold). */
  custos__nn_graph_init(&g, 8);
  nn_layer s2 = {.op = NN_OP_SCALE, .n_in = 1, .in = {0}, .cin = 8};
  s2.w = rnd(&P, 8, -2.0f, 2.0f);
  s2.b = rnd(&P, 8, -2.0f, 2.0f);
  int a = add_layer(&g, s2);
  int c = add_layer(&g, conv_layer(&P, a, 3, 1, NN_SAME, 8, 8, false, true));
  s2.in[0] = c;
  int d = add_layer(&g, s2);
  finish(&g, add2(&g, d, c));
  check_graph(&g, 9, 9, -2.0f, 2.0f, "unfolded scale");
  custos__nn_graph_free(&g);
  pool_free(&P);
}

static void test_op_pool(void **state) {
  (void)state;
  static const struct {
    nn_op op;
    int h, k, s;
    nn_padding pad;
  } cases[] = {
      {NN_OP_MAXPOOL, 207, 2, 2, NN_SAME}, /* tiny: odd size, pad right/bottom 1 */
      {NN_OP_MAXPOOL, 13, 2, 1, NN_SAME},  /* tiny: stride 1 */
      {NN_OP_MAXPOOL, 16, 2, 2, NN_SAME},
      {NN_OP_MAXPOOL, 72, 3, 2, NN_VALID}, /* recognition: 72 -> 35 */
      {NN_OP_AVGPOOL, 35, 2, 2, NN_VALID}, /* recognition shortcut: 35 -> 17, last row unused */
      {NN_OP_AVGPOOL, 8, 2, 2, NN_VALID},
      {NN_OP_AVGPOOL, 7, 7, 2, NN_VALID}, /* landmarks: 7 -> 1 */
      {NN_OP_AVGPOOL, 9, 3, 2, NN_SAME},  /* padding excluded from the mean */
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cases); i++) {
    nn_graph g;
    custos__nn_graph_init(&g, 16);
    int v = add_layer(&g, (nn_layer){.op = cases[i].op,
                                     .n_in = 1,
                                     .in = {0},
                                     .kh = cases[i].k,
                                     .kw = cases[i].k,
                                     .sh = cases[i].s,
                                     .sw = cases[i].s,
                                     .pad = cases[i].pad});
    finish(&g, v);
    char what[64];
    snprintf(what, sizeof what, "pool case %zu", i);
    /* Negative inputs check that padding never wins a max. */
    check_graph(&g, cases[i].h, cases[i].h, -3.0f, -0.5f, what);
    custos__nn_graph_free(&g);
  }
}

/* faceRecognitionNet's residual and residualDown, both forms. */
static int residual(nn_graph *g, pool *P, int x, int c) {
  int a =
      act_layer(g, add_layer(g, conv_layer(P, x, 3, 1, NN_SAME, c, c, false, true)), NN_ACT_RELU);
  a = add_layer(g, conv_layer(P, a, 3, 1, NN_SAME, c, c, false, true));
  return act_layer(g, add2(g, a, x), NN_ACT_RELU);
}

static int residual_down(nn_graph *g, pool *P, int x, int side, int cin, int cout) {
  int pooled = add_layer(g, (nn_layer){.op = NN_OP_AVGPOOL,
                                       .n_in = 1,
                                       .in = {x},
                                       .kh = 2,
                                       .kw = 2,
                                       .sh = 2,
                                       .sw = 2,
                                       .pad = NN_VALID});
  if (cin != cout) {
    pooled =
        add_layer(g, (nn_layer){.op = NN_OP_PAD_CHANNELS, .n_in = 1, .in = {pooled}, .cout = cout});
  }
  int a = act_layer(g, add_layer(g, conv_layer(P, x, 3, 2, NN_VALID, cin, cout, false, true)),
                    NN_ACT_RELU);
  a = add_layer(g, conv_layer(P, a, 3, 1, NN_SAME, cout, cout, false, true));
  if (custos__nn_out_size(side, 3, 2, NN_VALID) != custos__nn_out_size(side, 2, 2, NN_VALID)) {
    a = add_layer(
        g,
        (nn_layer){.op = NN_OP_PAD_SPATIAL, .n_in = 1, .in = {a}, .pad_bottom = 1, .pad_right = 1});
  }
  return act_layer(g, add2(g, pooled, a), NN_ACT_RELU);
}

static void test_op_residual(void **state) {
  (void)state;
  pool P = {0};
  nn_graph g;
  custos__nn_graph_init(&g, 16);
  int x = residual(&g, &P, 0, 16);
  x = residual(&g, &P, x, 16);
  finish(&g, x);
  check_graph(&g, 11, 11, -1.0f, 1.0f, "residual");
  custos__nn_graph_free(&g);

  custos__nn_graph_init(&g, 8);
  x = residual_down(&g, &P, 0, 17, 8, 16); /* channel padding, 17 -> 8 */
  x = residual(&g, &P, x, 16);
  x = residual_down(&g, &P, x, 8, 16, 16); /* spatial padding: conv 3, pool 4 */
  x = residual_down(&g, &P, x, 4, 16, 32); /* both: conv 1, pool 2 */
  nn_layer m = {.op = NN_OP_MEAN, .n_in = 1, .in = {x}};
  x = add_layer(&g, m);
  nn_layer fc = {.op = NN_OP_FC, .n_in = 1, .in = {x}, .cin = 32, .cout = 10};
  fc.w = rnd(&P, 320, -0.3f, 0.3f);
  finish(&g, add_layer(&g, fc));
  check_graph(&g, 17, 17, -1.0f, 1.0f, "residual down");
  custos__nn_graph_free(&g);
  pool_free(&P);
}

/* The landmark net's dense block: separable convs whose outputs add up as
 * running sums, each sum also read through a relu. */
static int sep(nn_graph *g, pool *P, int x, int s, int cin, int cout) {
  x = add_layer(g, conv_layer(P, x, 3, s, NN_SAME, cin, cin, true, false));
  return add_layer(g, conv_layer(P, x, 1, 1, NN_SAME, cin, cout, false, true));
}

static void test_op_dense(void **state) {
  (void)state;
  pool P = {0};
  nn_graph g;
  custos__nn_graph_init(&g, 8);
  int out1 = act_layer(&g, sep(&g, &P, 0, 2, 8, 16), NN_ACT_RELU);
  int s = add2(&g, out1, sep(&g, &P, out1, 1, 16, 16));
  s = add2(&g, s, sep(&g, &P, act_layer(&g, s, NN_ACT_RELU), 1, 16, 16));
  s = add2(&g, s, sep(&g, &P, act_layer(&g, s, NN_ACT_RELU), 1, 16, 16));
  finish(&g, act_layer(&g, s, NN_ACT_RELU));
  check_graph(&g, 14, 14, -1.0f, 1.0f, "dense block");
  custos__nn_graph_free(&g);

  /* A residual whose other operand is read again later: the sum must go to
   * a copy, and the operand must survive. */
  custos__nn_graph_init(&g, 8);
  int a = add_layer(&g, conv_layer(&P, 0, 3, 1, NN_SAME, 8, 8, false, true));
  int b = add_layer(&g, conv_layer(&P, a, 3, 1, NN_SAME, 8, 8, false, true));
  int sum = add2(&g, b, a);
  int c = add_layer(&g, conv_layer(&P, a, 1, 1, NN_SAME, 8, 8, false, true));
  finish(&g, add2(&g, sum, c));
  check_graph(&g, 10, 10, -1.0f, 1.0f, "residual with a live operand");
  custos__nn_graph_free(&g);
  pool_free(&P);
}

/* Normalisation, concatenation, fully connected, and outputs that are
 * intermediate values. */
static void test_op_misc(void **state) {
  (void)state;
  pool P = {0};
  nn_graph g;
  custos__nn_graph_init(&g, 3);
  nn_layer norm = {.op = NN_OP_NORMALIZE,
                   .n_in = 1,
                   .in = {0},
                   .sub = {122.782f, 117.001f, 104.298f},
                   .div = 255.0f};
  int x = add_layer(&g, norm);
  int c1 = act_layer(&g, add_layer(&g, conv_layer(&P, x, 3, 2, NN_SAME, 3, 16, false, true)),
                     NN_ACT_RELU6);
  int c2 = add_layer(&g, conv_layer(&P, c1, 3, 2, NN_SAME, 16, 16, false, true));
  int h1 = add_layer(&g, conv_layer(&P, c1, 1, 1, NN_SAME, 16, 12, false, true));
  int h2 = add_layer(&g, conv_layer(&P, c2, 1, 1, NN_SAME, 16, 12, false, true));
  nn_layer cat = {.op = NN_OP_CONCAT, .n_in = 2, .in = {h1, h2}};
  g.n_outputs = 2;
  g.outputs[0] = add_layer(&g, cat);
  g.outputs[1] = c2; /* also read by h2 */
  check_graph(&g, 24, 24, 0.0f, 255.0f, "normalize + heads + concat");
  custos__nn_graph_free(&g);

  /* The SSD's normalisation and a conv reading the raw input directly. */
  custos__nn_graph_init(&g, 3);
  nn_layer n2 = {.op = NN_OP_NORMALIZE, .n_in = 1, .in = {0}, .div = 127.5f, .post = 1.0f};
  x = add_layer(&g, n2);
  int d = add_layer(&g, conv_layer(&P, 0, 3, 1, NN_SAME, 3, 8, false, true));
  int e = add_layer(&g, conv_layer(&P, x, 3, 1, NN_SAME, 3, 8, false, true));
  x = add2(&g, d, e);
  nn_layer fc = {.op = NN_OP_FC, .n_in = 1, .in = {x}, .cin = 8 * 8 * 8, .cout = 7};
  fc.w = rnd(&P, 8 * 8 * 8 * 7, -0.1f, 0.1f);
  fc.b = rnd(&P, 7, -1.0f, 1.0f);
  finish(&g, add_layer(&g, fc));
  check_graph(&g, 8, 8, 0.0f, 255.0f, "raw input + fc");
  custos__nn_graph_free(&g);
  pool_free(&P);
}

/* ---- the four networks ------------------------------------------------------ */

static bool have_models(void) {
  struct stat st;
  return stat(MODELS "/face_recognition_model-weights_manifest.json", &st) == 0;
}

/* A side x side crop of sample1.jpg at (x, y), resized to out x out floats
 * (zero-padded where the crop leaves the image); a synthetic image when the
 * photo cannot be decoded. */
static bool sample_input(int x, int y, int side, int out, float *dst) {
  custos_err err;
  custos_image *img = NULL, *crop = NULL;
  bool real = false;
  if (custos_image_decode_file(CUSTOS_MODELS_DIR "/demo/sample1.jpg", NULL, &img, NULL, &err) ==
          CUSTOS_OK &&
      custos_image_new(side, side, &crop, &err) == CUSTOS_OK) {
    for (int r = 0; r < side; r++) {
      for (int c = 0; c < side; c++) {
        int sy = y + r, sx = x + c;
        if (sy < 0 || sx < 0 || sy >= img->height || sx >= img->width) continue;
        memcpy(crop->rgb + ((size_t)r * side + c) * 3,
               img->rgb + ((size_t)sy * img->width + sx) * 3, 3);
      }
    }
    real =
        custos_image_resize_f32(crop, out, out, CUSTOS_RESIZE_ASYMMETRIC, dst, &err) == CUSTOS_OK;
  }
  custos_image_free(img);
  custos_image_free(crop);
  if (!real) {
    print_message("sample1.jpg not usable (%s); synthetic input\n", err.message);
    for (int r = 0; r < out; r++) {
      for (int c = 0; c < out; c++) {
        for (int k = 0; k < 3; k++) {
          dst[((size_t)r * out + c) * 3 + k] =
              (float)(127.5 + 100.0 * sin(0.05 * r * (k + 1)) * cos(0.07 * c + k));
        }
      }
    }
  }
  return real;
}

typedef struct net_result {
  float *out[NN_MAX_OUTPUTS];
  size_t n[NN_MAX_OUTPUTS];
  int n_out;
} net_result;

static void net_result_free(net_result *r) {
  for (int i = 0; i < r->n_out; i++) free(r->out[i]);
}

/* Runs model kind on both backends and compares; fills *fast with the oneDNN
 * outputs. */
static void check_network(custos_nn_kind kind, int size, const float *in, net_result *fast) {
  custos_err err;
  custos_nn_model *m = NULL;
  int rc = custos__nn_model_load(MODELS, kind, &m, &err);
  if (rc != CUSTOS_OK) fail_msg("load: %s", err.message);
  custos_nn_net *a = NULL, *b = NULL;
  rc = custos__nn_net_new(m, CUSTOS_NN_ONEDNN, size, size, &a, &err);
  if (rc != CUSTOS_OK) fail_msg("onednn: %s", err.message);
  rc = custos__nn_net_new(m, CUSTOS_NN_REFERENCE, size, size, &b, &err);
  if (rc != CUSTOS_OK) fail_msg("reference: %s", err.message);
  assert_int_equal(custos__nn_net_outputs(a), custos__nn_net_outputs(b));
  net_result slow = {.n_out = custos__nn_net_outputs(a)};
  fast->n_out = slow.n_out;
  for (int i = 0; i < slow.n_out; i++) {
    slow.n[i] = fast->n[i] = custos__nn_net_output_size(a, i);
    assert_int_equal(slow.n[i], custos__nn_net_output_size(b, i));
    slow.out[i] = calloc(slow.n[i], sizeof(float));
    fast->out[i] = calloc(slow.n[i], sizeof(float));
    assert_true(slow.out[i] && fast->out[i]);
  }
  assert_int_equal(custos__nn_net_run(a, in, fast->out, &err), CUSTOS_OK);
  assert_int_equal(custos__nn_net_run(b, in, slow.out, &err), CUSTOS_OK);
  for (int i = 0; i < slow.n_out; i++) {
    double s = scale_of(slow.out[i], slow.n[i]);
    double d = max_diff(fast->out[i], slow.out[i], slow.n[i]);
    print_message("%s output %d: max |onednn - reference| = %.3g (scale %.3g)\n", m->name, i, d, s);
    assert_true(d <= 1e-4 * s);
  }
  net_result_free(&slow);
  custos__nn_net_free(a);
  custos__nn_net_free(b);
  custos__nn_model_free(m);
}

static float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}

static void test_net_recognition(void **state) {
  (void)state;
  if (!have_models()) skip();
  float *in = malloc(150 * 150 * 3 * sizeof(float));
  assert_non_null(in);
  bool real = sample_input(369, 394, 213, 150, in); /* face-api's aligned crop of face 1 */
  net_result r;
  check_network(CUSTOS_NN_FACE_RECOGNITION, 150, in, &r);
  assert_int_equal(r.n[0], 128);
  double norm = 0.0;
  for (int i = 0; i < 128; i++) norm += (double)r.out[0][i] * r.out[0][i];
  if (real) assert_true(sqrt(norm) > 0.2 && sqrt(norm) < 3.0);
  net_result_free(&r);
  free(in);
}

static void test_net_landmarks(void **state) {
  (void)state;
  if (!have_models()) skip();
  float *in = malloc(112 * 112 * 3 * sizeof(float));
  assert_non_null(in);
  bool real = sample_input(413 - 30, 355, 238, 112, in); /* the detection, padded square */
  net_result r;
  check_network(CUSTOS_NN_FACE_LANDMARK_68, 112, in, &r);
  assert_int_equal(r.n[0], 136);
  if (real) {
    for (int i = 0; i < 136; i++) assert_true(r.out[0][i] > -0.1f && r.out[0][i] < 1.1f);
  }
  net_result_free(&r);
  free(in);
}

static void test_net_tiny(void **state) {
  (void)state;
  if (!have_models()) skip();
  int size = 224;
  float *in = malloc((size_t)size * size * 3 * sizeof(float));
  assert_non_null(in);
  bool real = sample_input(300, 250, 450, size, in); /* face 1 and its surroundings */
  net_result r;
  check_network(CUSTOS_NN_TINY_FACE_DETECTOR, size, in, &r);
  assert_int_equal(r.n[0], (size_t)(size / 32) * (size / 32) * 25);
  if (real) {
    float best = 0.0f;
    for (size_t i = 4; i < r.n[0]; i += 5) best = fmaxf(best, sigmoid(r.out[0][i]));
    print_message("tiny: best score %.3f\n", (double)best);
    assert_true(best > 0.5f);
  }
  net_result_free(&r);
  free(in);
}

static void test_net_ssd(void **state) {
  (void)state;
  if (!have_models()) skip();
  float *in = malloc(512 * 512 * 3 * sizeof(float));
  assert_non_null(in);
  bool real = sample_input(0, 0, 1920, 512, in); /* the photo padded at the bottom, as face-api */
  net_result r;
  check_network(CUSTOS_NN_SSD_MOBILENETV1, 512, in, &r);
  assert_int_equal(r.n_out, 2);
  assert_int_equal(r.n[0], 5118 * 4);
  assert_int_equal(r.n[1], 5118 * 3);
  if (real) {
    float best = 0.0f;
    for (int i = 0; i < 5118; i++) best = fmaxf(best, sigmoid(r.out[1][i * 3 + 1]));
    print_message("ssd: best face score %.3f\n", (double)best);
    assert_true(best > 0.9f);
  }
  net_result_free(&r);
  free(in);
}

/* Input sizes, output sizes, versions, the anchors, arguments. */
static void test_net_api(void **state) {
  (void)state;
  if (!have_models()) skip();
  custos_err err;
  custos_nn_model *m = NULL;
  custos_nn_net *net = NULL;
  assert_int_equal(custos__nn_model_load(MODELS, CUSTOS_NN_TINY_FACE_DETECTOR, &m, &err),
                   CUSTOS_OK);
  const char *v = custos__nn_model_version(m);
  assert_non_null(strstr(v, "tiny_face_detector_model@"));
  assert_int_equal(strlen(v), strlen("tiny_face_detector_model@") + 16);
  assert_int_equal(custos__nn_net_new(m, CUSTOS_NN_ONEDNN, 100, 100, &net, &err), CUSTOS_EINVAL);
  assert_null(net);
  assert_int_equal(custos__nn_net_new(m, CUSTOS_NN_ONEDNN, 64, 96, &net, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__nn_net_new(m, CUSTOS_NN_ONEDNN, 2048, 2048, &net, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__nn_net_new(m, (custos_nn_backend_kind)7, 64, 64, &net, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos__nn_net_new(m, CUSTOS_NN_ONEDNN, 64, 64, &net, &err), CUSTOS_OK);
  assert_int_equal(custos__nn_net_outputs(net), 1);
  assert_int_equal(custos__nn_net_output_size(net, 0), 2 * 2 * 25);
  assert_int_equal(custos__nn_net_output_size(net, 1), 0);
  float out[100];
  float *outs[1] = {out};
  assert_int_equal(custos__nn_net_run(net, NULL, outs, &err), CUSTOS_EINVAL);
  custos_buf b;
  custos__buf_init(&b, 1 << 16);
  assert_int_equal(custos__nn_net_describe(net, &b), CUSTOS_OK);
  assert_non_null(strstr(b.data, "conv"));
  custos__buf_free(&b);
  custos__nn_net_free(net);
  custos__nn_model_free(m);

  assert_int_equal(custos__nn_model_load(MODELS, CUSTOS_NN_SSD_MOBILENETV1, &m, &err), CUSTOS_OK);
  const float *anchors;
  size_t n;
  assert_int_equal(custos__nn_model_tensor(m, "Output/extra_dim", &anchors, &n), CUSTOS_OK);
  assert_int_equal(n, 5118 * 4);
  for (size_t i = 0; i < n; i += 4) assert_true(anchors[i] < anchors[i + 2]); /* ymin < ymax */
  assert_int_equal(custos__nn_model_tensor(m, "no/such/tensor", &anchors, &n), CUSTOS_ENOENT);
  assert_int_equal(custos__nn_net_new(m, CUSTOS_NN_ONEDNN, 416, 416, &net, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "512x512"));
  custos__nn_model_free(m);
  custos__nn_model_free(NULL);
  custos__nn_net_free(NULL);
  assert_int_equal(custos__nn_model_load(MODELS, (custos_nn_kind)9, &m, &err), CUSTOS_EINVAL);
}

/* Bit-identical results run after run, and whatever the calling thread's
 * OpenMP setting at run time. */
static void test_threads(void **state) {
  (void)state;
  if (!have_models()) skip();
  custos_err err;
  custos_nn_model *m = NULL;
  custos_nn_net *net = NULL;
  assert_int_equal(custos__nn_model_load(MODELS, CUSTOS_NN_FACE_LANDMARK_68, &m, &err), CUSTOS_OK);
  int prev = omp_get_max_threads();
  omp_set_num_threads(1);
  assert_int_equal(custos__nn_net_new(m, CUSTOS_NN_ONEDNN, 112, 112, &net, &err), CUSTOS_OK);
  omp_set_num_threads(prev);
  float *in = malloc(112 * 112 * 3 * sizeof(float));
  assert_non_null(in);
  for (int i = 0; i < 112 * 112 * 3; i++) in[i] = urand(0.0f, 255.0f);
  float a[136], b[136], c[136];
  float *oa[1] = {a}, *ob[1] = {b}, *oc[1] = {c};
  assert_int_equal(custos__nn_net_run(net, in, oa, &err), CUSTOS_OK);
  omp_set_num_threads(2);
  assert_int_equal(custos__nn_net_run(net, in, ob, &err), CUSTOS_OK);
  assert_int_equal(omp_get_max_threads(), 2); /* restored */
  omp_set_num_threads(prev);
  assert_int_equal(custos__nn_net_run(net, in, oc, &err), CUSTOS_OK);
  assert_memory_equal(a, b, sizeof a);
  assert_memory_equal(a, c, sizeof a);
  free(in);
  custos__nn_net_free(net);
  custos__nn_model_free(m);
}

/* Nets used by several threads at once, one net per thread, each built in
 * its thread with one OpenMP thread (the face module's workers): the same
 * bits as one net alone. */
typedef struct worker_arg {
  const custos_nn_model *m;
  const float *in;
  float out[136];
  int rc;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  custos_err err;
  custos_nn_net *net = NULL;
  omp_set_num_threads(1);
  a->rc = custos__nn_net_new(a->m, CUSTOS_NN_ONEDNN, 112, 112, &net, &err);
  float *outs[1] = {a->out};
  for (int i = 0; i < 5 && a->rc == CUSTOS_OK; i++)
    a->rc = custos__nn_net_run(net, a->in, outs, &err);
  custos__nn_net_free(net);
  return NULL;
}

static void test_concurrent_nets(void **state) {
  (void)state;
  if (!have_models()) skip();
  custos_err err;
  custos_nn_model *m = NULL;
  assert_int_equal(custos__nn_model_load(MODELS, CUSTOS_NN_FACE_LANDMARK_68, &m, &err), CUSTOS_OK);
  float *in = malloc(112 * 112 * 3 * sizeof(float));
  assert_non_null(in);
  for (int i = 0; i < 112 * 112 * 3; i++) in[i] = urand(0.0f, 255.0f);
  worker_arg alone = {.m = m, .in = in};
  int prev = omp_get_max_threads();
  worker(&alone);
  omp_set_num_threads(prev);
  assert_int_equal(alone.rc, CUSTOS_OK);
  worker_arg args[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    args[i] = (worker_arg){.m = m, .in = in};
    assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < 3; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(args[i].rc, CUSTOS_OK);
    assert_memory_equal(args[i].out, alone.out, sizeof alone.out);
  }
  free(in);
  custos__nn_model_free(m);
}

/* ---- hostile model files -------------------------------------------------- */

#define KEEP (SIZE_MAX - 1) /* the .bin as it is */
#define GROW SIZE_MAX       /* the .bin with one more byte */

static char tmp_dir[256];

static int hostile_setup(void **state) {
  (void)state;
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/custos-test-nn-XXXXXX");
  return mkdtemp(tmp_dir) == NULL ? -1 : 0;
}

static int hostile_teardown(void **state) {
  (void)state;
  char p[512];
  snprintf(p, sizeof p, "%s/tiny_face_detector_model-weights_manifest.json", tmp_dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/tiny_face_detector_model.bin", tmp_dir);
  unlink(p);
  rmdir(tmp_dir);
  return 0;
}

static unsigned char *slurp(const char *path, size_t *len) {
  custos_err err;
  unsigned char *d = NULL;
  assert_int_equal(custos__read_file(path, (size_t)64 << 20, &d, len, &err), CUSTOS_OK);
  return d;
}

static void spit(const char *name, const void *data, size_t len) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* Writes the tiny model with its manifest text edited (from -> to; NULL
 * leaves it as is) and the .bin cut to bin_len bytes (or KEEP or GROW),
 * loads it and checks the error. */
static void hostile(const char *from, const char *to, size_t bin_len, int want_rc,
                    const char *want1, const char *want2) {
  size_t mlen, blen;
  char *man = (char *)slurp(MODELS "/tiny_face_detector_model-weights_manifest.json", &mlen);
  unsigned char *bin = slurp(MODELS "/tiny_face_detector_model.bin", &blen);
  custos_buf edited;
  custos__buf_init(&edited, 1 << 20);
  const char *at = from ? strstr(man, from) : NULL;
  if (from) assert_non_null(at);
  if (at) {
    assert_int_equal(custos__buf_append(&edited, man, (size_t)(at - man)), CUSTOS_OK);
    assert_int_equal(custos__buf_append(&edited, to, strlen(to)), CUSTOS_OK);
    assert_int_equal(
        custos__buf_append(&edited, at + strlen(from), mlen - (size_t)(at - man) - strlen(from)),
        CUSTOS_OK);
  } else {
    assert_int_equal(custos__buf_append(&edited, man, mlen), CUSTOS_OK);
  }
  spit("tiny_face_detector_model-weights_manifest.json", edited.data, edited.len);
  if (bin_len == GROW) {
    bin = realloc(bin, blen + 1);
    assert_non_null(bin);
    bin[blen] = 0;
    spit("tiny_face_detector_model.bin", bin, blen + 1);
  } else {
    spit("tiny_face_detector_model.bin", bin, bin_len < blen ? bin_len : blen);
  }
  custos_err err;
  custos_err_clear(&err);
  custos_nn_model *m = NULL;
  int rc = custos__nn_model_load(tmp_dir, CUSTOS_NN_TINY_FACE_DETECTOR, &m, &err);
  if (rc != want_rc || (want1 && !strstr(err.message, want1)) ||
      (want2 && !strstr(err.message, want2))) {
    fail_msg("got %s \"%s\", wanted %s with \"%s\" and \"%s\"", custos_err_name(rc), err.message,
             custos_err_name(want_rc), want1 ? want1 : "", want2 ? want2 : "");
  }
  if (rc == CUSTOS_OK) {
    custos__nn_model_free(m);
  } else {
    assert_null(m);
  }
  custos__buf_free(&edited);
  free(bin);
  custos__free(man);
}

static void test_hostile_models(void **state) {
  (void)state;
  if (!have_models()) skip();
  /* The untouched copy loads. */
  hostile(NULL, NULL, KEEP, CUSTOS_OK, NULL, NULL);
  /* Truncated .bin: names the first tensor that does not fit. */
  hostile(NULL, NULL, 193321 - 100, CUSTOS_EMODEL, "tensor conv8/filters", "truncated");
  hostile(NULL, NULL, 10, CUSTOS_EMODEL, "tensor conv0/filters", "truncated");
  hostile(NULL, NULL, 0, CUSTOS_EMODEL, "tensor conv0/filters", "truncated");
  /* A byte too many. */
  hostile(NULL, NULL, GROW, CUSTOS_EMODEL, "1 bytes after the last tensor", NULL);
  /* A wrong shape of the same size. */
  hostile("\"conv1/pointwise_filter\",\"shape\":[1,1,16,32]",
          "\"conv1/pointwise_filter\",\"shape\":[1,1,32,16]", KEEP, CUSTOS_EMODEL,
          "tiny_face_detector_model: tensor conv1/pointwise_filter: shape [1,1,32,16], "
          "expected [1,1,16,32]",
          NULL);
  /* A missing tensor. */
  hostile("\"conv8/bias\"", "\"conv8/bias_renamed\"", KEEP, CUSTOS_EMODEL,
          "tensor conv8/bias: missing", NULL);
  /* int32 where float32 is needed. */
  hostile("\"conv8/bias\",\"shape\":[25],\"dtype\":\"float32\"",
          "\"conv8/bias\",\"shape\":[25],\"dtype\":\"int32\"", KEEP, CUSTOS_EMODEL,
          "tensor conv8/bias: int32", NULL);
  /* Unknown dtypes. */
  hostile(
      "\"conv0/bias\",\"shape\":[16],\"dtype\":\"float32\",\"quantization\":{\"dtype\":"
      "\"uint8\"",
      "\"conv0/bias\",\"shape\":[16],\"dtype\":\"float32\",\"quantization\":{\"dtype\":"
      "\"int4\"",
      KEEP, CUSTOS_EMODEL, "tensor conv0/bias: unsupported quantization dtype", NULL);
  hostile("\"conv0/bias\",\"shape\":[16],\"dtype\":\"float32\"",
          "\"conv0/bias\",\"shape\":[16],\"dtype\":\"float64\"", KEEP, CUSTOS_EMODEL,
          "tensor conv0/bias: unsupported dtype", NULL);
  /* uint16 quantisation doubles the bytes: the file is then too short. */
  hostile(
      "\"conv8/bias\",\"shape\":[25],\"dtype\":\"float32\",\"quantization\":{\"dtype\":"
      "\"uint8\"",
      "\"conv8/bias\",\"shape\":[25],\"dtype\":\"float32\",\"quantization\":{\"dtype\":"
      "\"uint16\"",
      KEEP, CUSTOS_EMODEL, "tensor conv8/bias: truncated", NULL);
  /* Malformed JSON. */
  hostile("\"weights\":", "\"weights\"", KEEP, CUSTOS_EMODEL, "manifest", NULL);
  hostile("[", "{", KEEP, CUSTOS_EMODEL, "manifest", NULL);
  /* Huge declared shapes: a dimension, and a product. */
  hostile("\"conv0/filters\",\"shape\":[3,3,3,16]",
          "\"conv0/filters\",\"shape\":[3,3,3,1600000000000]", KEEP, CUSTOS_EMODEL,
          "tensor conv0/filters: shape[3]", NULL);
  hostile("\"conv0/filters\",\"shape\":[3,3,3,16]",
          "\"conv0/filters\",\"shape\":[268435456,268435456,268435456,16]", KEEP, CUSTOS_EMODEL,
          "tensor conv0/filters: declared shape is larger", NULL);
  hostile("\"conv0/filters\",\"shape\":[3,3,3,16]", "\"conv0/filters\",\"shape\":[3,3,3,-16]", KEEP,
          CUSTOS_EMODEL, "tensor conv0/filters: shape[3]", NULL);
  hostile("\"conv0/filters\",\"shape\":[3,3,3,16]", "\"conv0/filters\",\"shape\":[3,3,3,16,1]",
          KEEP, CUSTOS_EMODEL, "more than 4 items", NULL);
  hostile("\"conv0/filters\",\"shape\":[3,3,3,16]", "\"conv0/filters\",\"shape\":\"big\"", KEEP,
          CUSTOS_EMODEL, "shape: expected an array", NULL);
  /* A quantization without its scale; a duplicate tensor. */
  hostile("\"scale\":0.009007044399485869,", "", KEEP, CUSTOS_EMODEL, "scale: missing", NULL);
  hostile("\"conv0/bias\"", "\"conv0/filters\"", KEEP, CUSTOS_EMODEL,
          "tensor conv0/filters: declared twice", NULL);
  /* Paths that leave the folder, or name a missing file. */
  hostile("\"tiny_face_detector_model.bin\"", "\"../tiny_face_detector_model.bin\"", KEEP,
          CUSTOS_EMODEL, "not a plain file name", NULL);
  hostile("\"tiny_face_detector_model.bin\"", "\"missing.bin\"", KEEP, CUSTOS_ENOENT, "missing.bin",
          NULL);
  /* No manifest at all. */
  custos_err err;
  custos_nn_model *m = NULL;
  assert_int_equal(custos__nn_model_load(tmp_dir, CUSTOS_NN_FACE_RECOGNITION, &m, &err),
                   CUSTOS_ENOENT);
  assert_null(m);
}

/* Every allocation that fails is reported, in loading and in building. */
static void test_alloc_failures(void **state) {
  (void)state;
  if (!have_models()) skip();
  custos_err err;
  int failed = 0;
  for (long n = 0;; n++) {
    custos_nn_model *m = NULL;
    custos__alloc_fail_after(n);
    int rc = custos__nn_model_load(MODELS, CUSTOS_NN_TINY_FACE_DETECTOR, &m, &err);
    custos__alloc_fail_after(-1);
    if (rc == CUSTOS_OK) {
      custos__nn_model_free(m);
      break;
    }
    assert_null(m);
    assert_int_equal(rc, CUSTOS_ENOMEM);
    failed++;
  }
  assert_true(failed > 10);
  custos_nn_model *m = NULL;
  assert_int_equal(custos__nn_model_load(MODELS, CUSTOS_NN_TINY_FACE_DETECTOR, &m, &err),
                   CUSTOS_OK);
  for (int be = 0; be < 2; be++) {
    for (long n = 0;; n++) {
      custos_nn_net *net = NULL;
      custos__alloc_fail_after(n);
      int rc = custos__nn_net_new(m, (custos_nn_backend_kind)be, 32, 32, &net, &err);
      custos__alloc_fail_after(-1);
      if (rc == CUSTOS_OK) {
        custos__nn_net_free(net);
        break;
      }
      assert_null(net);
      assert_int_equal(rc, CUSTOS_ENOMEM);
    }
  }
  custos__nn_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_padding_rules),
      cmocka_unit_test(test_graph_checks),
      cmocka_unit_test(test_op_conv),
      cmocka_unit_test(test_op_depthwise),
      cmocka_unit_test(test_op_fold),
      cmocka_unit_test(test_op_pool),
      cmocka_unit_test(test_op_residual),
      cmocka_unit_test(test_op_dense),
      cmocka_unit_test(test_op_misc),
      cmocka_unit_test(test_net_api),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_concurrent_nets),
      cmocka_unit_test_setup_teardown(test_hostile_models, hostile_setup, hostile_teardown),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_net_recognition),
      cmocka_unit_test(test_net_landmarks),
      cmocka_unit_test(test_net_tiny),
      cmocka_unit_test(test_net_ssd),
  };
  return cmocka_run_group_tests_name("nn", tests, NULL, NULL);
}
