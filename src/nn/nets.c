/*
 * The four face-api networks written down as layer lists, following the
 * TypeScript of @vladmandic/face-api 1.7.15 op by op (file names below are
 * under its src/).  Each tensor is looked up by its manifest name with the
 * exact shape the network needs; a missing tensor or a wrong shape makes the
 * model malformed (CUSTOS_EMODEL naming the tensor).
 *
 * Two deliberate differences in form, none in value:
 *  - the landmark net's dense blocks add their branches as running sums
 *    ((out1 + out2) + out3 ...) where face-api writes out1 + (out2 + out3);
 *    the sums are mathematically the same and differ only in float rounding,
 *    and the running form lets the oneDNN backend accumulate each branch
 *    into one buffer with a sum post-op;
 *  - the recognition net's residualDown lists its shortcut (average pool,
 *    zero channels) before the two convolutions, for the same reason.
 */
#include <stdio.h>
#include <string.h>

#include "nn/nnInt.h"

/* Builder with a sticky error: after the first failure every call is a
 * no-op, so the network code below reads straight through. */
typedef struct builder {
  custos_nn_model *m;
  nn_graph *g;
  custos_err *err;
  int rc;
} builder;

static void shape_str(char *s, size_t n, int ndim, const int *shape) {
  size_t o = 0;
  o += (size_t)snprintf(s + o, n - o, "[");
  for (int i = 0; i < ndim && o < n; i++) {
    o += (size_t)snprintf(s + o, n - o, "%s%d", i ? "," : "", shape[i]);
  }
  if (o < n) snprintf(s + o, n - o, "]");
}

/* The data of tensor `name`, which must have exactly the shape given. */
static const float *need(builder *b, const char *name, int ndim, const int *shape) {
  if (b->rc != CUSTOS_OK) return NULL;
  const nn_tensor *t = custos__nn_model_find(b->m, name);
  if (t == NULL) {
    b->rc = custos__err(b->err, CUSTOS_EMODEL, NN_MOD, "%s: tensor %s: missing", b->m->name, name);
    return NULL;
  }
  bool same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
  if (t->is_int) {
    b->rc = custos__err(b->err, CUSTOS_EMODEL, NN_MOD, "%s: tensor %s: int32, expected float32",
                        b->m->name, name);
    return NULL;
  }
  if (!same) {
    char have[64], want[64];
    shape_str(have, sizeof have, t->ndim, t->shape);
    shape_str(want, sizeof want, ndim, shape);
    b->rc = custos__err(b->err, CUSTOS_EMODEL, NN_MOD, "%s: tensor %s: shape %s, expected %s",
                        b->m->name, name, have, want);
    return NULL;
  }
  return t->data;
}

static const float *need1(builder *b, const char *name, int n) {
  return need(b, name, 1, &n);
}

static const float *need4(builder *b, const char *name, int d0, int d1, int d2, int d3) {
  int s[4] = {d0, d1, d2, d3};
  return need(b, name, 4, s);
}

/* Names are "<prefix>/<suffix>"; the buffers live as long as the call. */
static const char *cat(char *buf, size_t n, const char *prefix, const char *suffix) {
  snprintf(buf, n, "%s/%s", prefix, suffix);
  return buf;
}

static int add(builder *b, nn_layer l) {
  if (b->rc != CUSTOS_OK) return 0;
  int v = custos__nn_graph_add(b->g, &l);
  if (v < 0) {
    b->rc = custos__err(b->err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
    return 0;
  }
  return v;
}

static int normalize(builder *b, int x, const float sub[3], float div, float post) {
  nn_layer l = {
      .op = NN_OP_NORMALIZE, .n_in = 1, .in = {x}, .name = "input", .div = div, .post = post};
  memcpy(l.sub, sub, sizeof l.sub);
  return add(b, l);
}

static int conv(builder *b, int x, const char *name, int k, int stride, nn_padding pad, int cin,
                int cout, bool depthwise, const float *w, const float *bias) {
  nn_layer l = {.op = NN_OP_CONV,
                .n_in = 1,
                .in = {x},
                .name = name,
                .kh = k,
                .kw = k,
                .sh = stride,
                .sw = stride,
                .pad = pad,
                .cin = cin,
                .cout = cout,
                .depthwise = depthwise,
                .w = w,
                .b = bias};
  return add(b, l);
}

static int act(builder *b, int x, nn_act a) {
  nn_layer l = {.op = NN_OP_ACT, .n_in = 1, .in = {x}, .act = a};
  return add(b, l);
}

static int add2(builder *b, int x, int y) {
  nn_layer l = {.op = NN_OP_ADD, .n_in = 2, .in = {x, y}};
  return add(b, l);
}

static int pool(builder *b, nn_op op, int x, int k, int stride, nn_padding pad) {
  nn_layer l = {
      .op = op, .n_in = 1, .in = {x}, .kh = k, .kw = k, .sh = stride, .sw = stride, .pad = pad};
  return add(b, l);
}

/* ---- faceRecognitionNet (faceRecognitionNet/) ----------------------------- */

/* convLayer.ts: conv2d + bias, then the scale layer, then relu if asked.
 * prefix is kept as the layer's name, so it must be a static string. */
static int rec_conv(builder *b, int x, const char *prefix, int cin, int cout, int k, int stride,
                    nn_padding pad, bool relu) {
  char n[128];
  const float *w = need4(b, cat(n, sizeof n, prefix, "conv/filters"), k, k, cin, cout);
  const float *bias = need1(b, cat(n, sizeof n, prefix, "conv/bias"), cout);
  const float *sw = need1(b, cat(n, sizeof n, prefix, "scale/weights"), cout);
  const float *sb = need1(b, cat(n, sizeof n, prefix, "scale/biases"), cout);
  int v = conv(b, x, prefix, k, stride, pad, cin, cout, false, w, bias);
  nn_layer s = {
      .op = NN_OP_SCALE, .n_in = 1, .in = {v}, .name = prefix, .cin = cout, .w = sw, .b = sb};
  v = add(b, s);
  return relu ? act(b, v, NN_ACT_RELU) : v;
}

typedef struct rec_block {
  const char *name;  /* "conv32_1" */
  const char *conv1; /* "conv32_1/conv1" */
  const char *conv2;
  int cin, cout;
  bool down;
} rec_block;

static const rec_block rec_blocks[] = {
#define B(n, ci, co, d) \
  { #n, #n "/conv1", #n "/conv2", ci, co, d }
    B(conv32_1, 32, 32, false),      B(conv32_2, 32, 32, false),
    B(conv32_3, 32, 32, false),      B(conv64_down, 32, 64, true),
    B(conv64_1, 64, 64, false),      B(conv64_2, 64, 64, false),
    B(conv64_3, 64, 64, false),      B(conv128_down, 64, 128, true),
    B(conv128_1, 128, 128, false),   B(conv128_2, 128, 128, false),
    B(conv256_down, 128, 256, true), B(conv256_1, 256, 256, false),
    B(conv256_2, 256, 256, false),   B(conv256_down_out, 256, 256, true),
#undef B
};

static void build_recognition(builder *b) {
  static const float mean[3] = {122.782f, 117.001f, 104.298f};
  int side = 150; /* the only input size (toBatchTensor(150)); decides residualDown's padding */
  int x = normalize(b, 0, mean, 255.0f, 0.0f);
  x = rec_conv(b, x, "conv32_down", 3, 32, 7, 2, NN_VALID, true);
  side = custos__nn_out_size(side, 7, 2, NN_VALID);
  x = pool(b, NN_OP_MAXPOOL, x, 3, 2, NN_VALID);
  side = custos__nn_out_size(side, 3, 2, NN_VALID);
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(rec_blocks); i++) {
    const rec_block *rb = &rec_blocks[i];
    if (!rb->down) { /* residual */
      int a = rec_conv(b, x, rb->conv1, rb->cin, rb->cout, 3, 1, NN_SAME, true);
      a = rec_conv(b, a, rb->conv2, rb->cout, rb->cout, 3, 1, NN_SAME, false);
      x = act(b, add2(b, a, x), NN_ACT_RELU);
      continue;
    }
    /* residualDown.  The shortcut is listed first (face-api computes it
     * second; the two branches are independent) so that a backend can add
     * the main branch into it as the last convolution runs. */
    int pooled = pool(b, NN_OP_AVGPOOL, x, 2, 2, NN_VALID);
    int pool_side = custos__nn_out_size(side, 2, 2, NN_VALID);
    if (rb->cin != rb->cout) { /* isPad: zero channels */
      nn_layer l = {
          .op = NN_OP_PAD_CHANNELS, .n_in = 1, .in = {pooled}, .name = rb->name, .cout = rb->cout};
      pooled = add(b, l);
    }
    int a = rec_conv(b, x, rb->conv1, rb->cin, rb->cout, 3, 2, NN_VALID, true);
    a = rec_conv(b, a, rb->conv2, rb->cout, rb->cout, 3, 1, NN_SAME, false);
    int conv_side = custos__nn_out_size(side, 3, 2, NN_VALID);
    if (pool_side != conv_side) { /* isAdjustShape: one zero row and column */
      nn_layer l = {.op = NN_OP_PAD_SPATIAL,
                    .n_in = 1,
                    .in = {a},
                    .name = rb->name,
                    .pad_bottom = 1,
                    .pad_right = 1};
      a = add(b, l);
    }
    x = act(b, add2(b, pooled, a), NN_ACT_RELU);
    side = pool_side;
  }
  nn_layer mean_l = {.op = NN_OP_MEAN, .n_in = 1, .in = {x}};
  x = add(b, mean_l);
  int fc_shape[2] = {256, 128};
  const float *fc = need(b, "fc", 2, fc_shape);
  nn_layer fc_l = {
      .op = NN_OP_FC, .n_in = 1, .in = {x}, .name = "fc", .cin = 256, .cout = 128, .w = fc};
  x = add(b, fc_l);
  b->g->n_outputs = 1;
  b->g->outputs[0] = x;
}

/* ---- ssdMobilenetv1 (ssdMobilenetv1/) ------------------------------------ */

/* pointwiseConvLayer: conv2d 'same' + batch_norm_offset, clip 0..6. */
static int ssd_pointwise(builder *b, int x, const char *prefix, int k, int stride, int cin,
                         int cout) {
  char n[128];
  const float *w = need4(b, cat(n, sizeof n, prefix, "weights"), k, k, cin, cout);
  const float *off = need1(b, cat(n, sizeof n, prefix, "convolution_bn_offset"), cout);
  return act(b, conv(b, x, prefix, k, stride, NN_SAME, cin, cout, false, w, off), NN_ACT_RELU6);
}

/* depthwiseConvLayer: depthwise 'same', batch norm (eps 0.001), clip 0..6. */
static int ssd_depthwise(builder *b, int x, const char *prefix, int stride, int c) {
  char n[128];
  const float *w = need4(b, cat(n, sizeof n, prefix, "depthwise_weights"), 3, 3, c, 1);
  nn_layer bn = {
      .op = NN_OP_BATCHNORM, .n_in = 1, .name = prefix, .cin = c, .eps = 0.0010000000474974513f};
  bn.mean = need1(b, cat(n, sizeof n, prefix, "BatchNorm/moving_mean"), c);
  bn.var = need1(b, cat(n, sizeof n, prefix, "BatchNorm/moving_variance"), c);
  bn.gamma = need1(b, cat(n, sizeof n, prefix, "BatchNorm/gamma"), c);
  bn.beta = need1(b, cat(n, sizeof n, prefix, "BatchNorm/beta"), c);
  bn.in[0] = conv(b, x, prefix, 3, stride, NN_SAME, c, c, true, w, NULL);
  return act(b, add(b, bn), NN_ACT_RELU6);
}

static const char *const ssd_dw_names[14] = {NULL,
                                             "MobilenetV1/Conv2d_1_depthwise",
                                             "MobilenetV1/Conv2d_2_depthwise",
                                             "MobilenetV1/Conv2d_3_depthwise",
                                             "MobilenetV1/Conv2d_4_depthwise",
                                             "MobilenetV1/Conv2d_5_depthwise",
                                             "MobilenetV1/Conv2d_6_depthwise",
                                             "MobilenetV1/Conv2d_7_depthwise",
                                             "MobilenetV1/Conv2d_8_depthwise",
                                             "MobilenetV1/Conv2d_9_depthwise",
                                             "MobilenetV1/Conv2d_10_depthwise",
                                             "MobilenetV1/Conv2d_11_depthwise",
                                             "MobilenetV1/Conv2d_12_depthwise",
                                             "MobilenetV1/Conv2d_13_depthwise"};
static const char *const ssd_pw_names[14] = {
    "MobilenetV1/Conv2d_0_pointwise",  "MobilenetV1/Conv2d_1_pointwise",
    "MobilenetV1/Conv2d_2_pointwise",  "MobilenetV1/Conv2d_3_pointwise",
    "MobilenetV1/Conv2d_4_pointwise",  "MobilenetV1/Conv2d_5_pointwise",
    "MobilenetV1/Conv2d_6_pointwise",  "MobilenetV1/Conv2d_7_pointwise",
    "MobilenetV1/Conv2d_8_pointwise",  "MobilenetV1/Conv2d_9_pointwise",
    "MobilenetV1/Conv2d_10_pointwise", "MobilenetV1/Conv2d_11_pointwise",
    "MobilenetV1/Conv2d_12_pointwise", "MobilenetV1/Conv2d_13_pointwise"};
static const char *const ssd_pred_names[8] = {
    "Prediction/Conv2d_0_pointwise", "Prediction/Conv2d_1_pointwise",
    "Prediction/Conv2d_2_pointwise", "Prediction/Conv2d_3_pointwise",
    "Prediction/Conv2d_4_pointwise", "Prediction/Conv2d_5_pointwise",
    "Prediction/Conv2d_6_pointwise", "Prediction/Conv2d_7_pointwise"};
static const char *const ssd_box_names[6] = {"Prediction/BoxPredictor_0/BoxEncodingPredictor",
                                             "Prediction/BoxPredictor_1/BoxEncodingPredictor",
                                             "Prediction/BoxPredictor_2/BoxEncodingPredictor",
                                             "Prediction/BoxPredictor_3/BoxEncodingPredictor",
                                             "Prediction/BoxPredictor_4/BoxEncodingPredictor",
                                             "Prediction/BoxPredictor_5/BoxEncodingPredictor"};
static const char *const ssd_cls_names[6] = {
    "Prediction/BoxPredictor_0/ClassPredictor", "Prediction/BoxPredictor_1/ClassPredictor",
    "Prediction/BoxPredictor_2/ClassPredictor", "Prediction/BoxPredictor_3/ClassPredictor",
    "Prediction/BoxPredictor_4/ClassPredictor", "Prediction/BoxPredictor_5/ClassPredictor"};

/* boxPredictionLayer's convLayer: 1x1 conv 'same' + bias, no activation. */
static int ssd_head(builder *b, int x, const char *prefix, int cin, int cout) {
  char n[128];
  const float *w = need4(b, cat(n, sizeof n, prefix, "weights"), 1, 1, cin, cout);
  const float *bias = need1(b, cat(n, sizeof n, prefix, "biases"), cout);
  return conv(b, x, prefix, 1, 1, NN_SAME, cin, cout, false, w, bias);
}

static void build_ssd(builder *b) {
  static const float zero[3] = {0.0f, 0.0f, 0.0f};
  /* mobileNetV1.ts: pointwise (really 3x3) stride 2, then 13 depthwise/pointwise pairs. */
  static const int chans[14] = {32,  64,  128, 128, 256, 256,  512,
                                512, 512, 512, 512, 512, 1024, 1024};
  int x = normalize(b, 0, zero, 127.5f, 1.0f); /* x / 127.5 - 1 */
  x = ssd_pointwise(b, x, ssd_pw_names[0], 3, 2, 3, 32);
  int conv11 = 0;
  for (int i = 1; i <= 13; i++) {
    int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
    x = ssd_depthwise(b, x, ssd_dw_names[i], stride, chans[i - 1]);
    x = ssd_pointwise(b, x, ssd_pw_names[i], 1, 1, chans[i - 1], chans[i]);
    if (i == 11) conv11 = x;
  }
  /* predictionLayer.ts */
  static const int pk[8] = {1, 3, 1, 3, 1, 3, 1, 3};
  static const int pc[9] = {1024, 256, 512, 128, 256, 128, 256, 64, 128};
  int pred[8];
  int y = x;
  for (int i = 0; i < 8; i++) {
    y = ssd_pointwise(b, y, ssd_pred_names[i], pk[i], i % 2 ? 2 : 1, pc[i], pc[i + 1]);
    pred[i] = y;
  }
  const int feats[6] = {conv11, x, pred[1], pred[3], pred[5], pred[7]};
  static const int feat_c[6] = {512, 1024, 512, 256, 256, 128};
  static const int anchors[6] = {3, 6, 6, 6, 6, 6};
  nn_layer boxes = {.op = NN_OP_CONCAT, .n_in = 6, .name = "box_encodings"};
  nn_layer classes = {.op = NN_OP_CONCAT, .n_in = 6, .name = "class_predictions"};
  for (int i = 0; i < 6; i++) {
    boxes.in[i] = ssd_head(b, feats[i], ssd_box_names[i], feat_c[i], anchors[i] * 4);
    classes.in[i] = ssd_head(b, feats[i], ssd_cls_names[i], feat_c[i], anchors[i] * 3);
  }
  b->g->n_outputs = 2;
  b->g->outputs[0] = add(b, boxes);
  b->g->outputs[1] = add(b, classes);
  /* The anchors outputLayer.ts decodes with; the face module reads them. */
  int anchor_shape[3] = {1, 5118, 4};
  (void)need(b, "Output/extra_dim", 3, anchor_shape);
}

/* ---- tinyFaceDetector (tinyYolov2/TinyYolov2Base.ts runMobilenet) ------- */

/* tinyYolov2 depthwiseSeparableConv: pad 1, separableConv2d 'valid', + bias, leaky. */
static int tiny_sep(builder *b, int x, const char *prefix, int cin, int cout) {
  char n[128];
  const float *dw = need4(b, cat(n, sizeof n, prefix, "depthwise_filter"), 3, 3, cin, 1);
  const float *pw = need4(b, cat(n, sizeof n, prefix, "pointwise_filter"), 1, 1, cin, cout);
  const float *bias = need1(b, cat(n, sizeof n, prefix, "bias"), cout);
  x = conv(b, x, prefix, 3, 1, NN_SAME, cin, cin, true, dw, NULL); /* pad 1 + valid == same */
  x = conv(b, x, prefix, 1, 1, NN_VALID, cin, cout, false, pw, bias);
  return act(b, x, NN_ACT_LEAKY);
}

static void build_tiny(builder *b) {
  static const float mean[3] = {117.001f, 114.697f, 97.404f}; /* tinyFaceDetector/const.ts */
  static const char *const names[6] = {NULL, "conv1", "conv2", "conv3", "conv4", "conv5"};
  static const int chans[6] = {16, 32, 64, 128, 256, 512};
  int x = normalize(b, 0, mean, 255.0f, 0.0f);
  const float *w = need4(b, "conv0/filters", 3, 3, 3, 16);
  const float *bias = need1(b, "conv0/bias", 16);
  x = act(b, conv(b, x, "conv0", 3, 1, NN_VALID, 3, 16, false, w, bias), NN_ACT_LEAKY);
  x = pool(b, NN_OP_MAXPOOL, x, 2, 2, NN_SAME);
  for (int i = 1; i <= 5; i++) {
    x = tiny_sep(b, x, names[i], chans[i - 1], chans[i]);
    x = pool(b, NN_OP_MAXPOOL, x, 2, i < 5 ? 2 : 1, NN_SAME);
  }
  w = need4(b, "conv8/filters", 1, 1, 512, 25);
  bias = need1(b, "conv8/bias", 25);
  b->g->n_outputs = 1;
  b->g->outputs[0] = conv(b, x, "conv8", 1, 1, NN_VALID, 512, 25, false, w, bias);
}

/* ---- faceLandmark68Net (faceFeatureExtractor/FaceFeatureExtractor.ts,
 *      denseBlock.ts, faceProcessor/FaceProcessor.ts) --------------------- */

/* common/depthwiseSeparableConv: separableConv2d 'same' + bias (no activation). */
static int lm_sep(builder *b, int x, const char *prefix, int stride, int cin, int cout) {
  char n[128];
  const float *dw = need4(b, cat(n, sizeof n, prefix, "depthwise_filter"), 3, 3, cin, 1);
  const float *pw = need4(b, cat(n, sizeof n, prefix, "pointwise_filter"), 1, 1, cin, cout);
  const float *bias = need1(b, cat(n, sizeof n, prefix, "bias"), cout);
  x = conv(b, x, prefix, 3, stride, NN_SAME, cin, cin, true, dw, NULL);
  return conv(b, x, prefix, 1, 1, NN_SAME, cin, cout, false, pw, bias);
}

typedef struct lm_block {
  const char *conv[4]; /* "dense0/conv0" ... */
  int cin, cout;
} lm_block;

static const lm_block lm_blocks[4] = {
#define B(n, ci, co) \
  { {#n "/conv0", #n "/conv1", #n "/conv2", #n "/conv3"}, ci, co }
    B(dense0, 3, 32),
    B(dense1, 32, 64),
    B(dense2, 64, 128),
    B(dense3, 128, 256),
#undef B
};

static void build_landmarks(builder *b) {
  static const float mean[3] = {122.782f, 117.001f, 104.298f};
  int x = normalize(b, 0, mean, 255.0f, 0.0f);
  for (int i = 0; i < 4; i++) {
    const lm_block *lb = &lm_blocks[i];
    int out1;
    if (i == 0) { /* isFirstLayer: conv2d stride 2 'same' + bias */
      const float *w = need4(b, "dense0/conv0/filters", 3, 3, 3, 32);
      const float *bias = need1(b, "dense0/conv0/bias", 32);
      out1 = conv(b, x, lb->conv[0], 3, 2, NN_SAME, 3, 32, false, w, bias);
    } else {
      out1 = lm_sep(b, x, lb->conv[0], 2, lb->cin, lb->cout);
    }
    out1 = act(b, out1, NN_ACT_RELU);
    int s = add2(b, out1, lm_sep(b, out1, lb->conv[1], 1, lb->cout, lb->cout));
    s = add2(b, s, lm_sep(b, act(b, s, NN_ACT_RELU), lb->conv[2], 1, lb->cout, lb->cout));
    s = add2(b, s, lm_sep(b, act(b, s, NN_ACT_RELU), lb->conv[3], 1, lb->cout, lb->cout));
    x = act(b, s, NN_ACT_RELU);
  }
  x = pool(b, NN_OP_AVGPOOL, x, 7, 2, NN_VALID); /* 7x7 -> 1x1 */
  int wshape[2] = {256, 136};
  nn_layer fc = {.op = NN_OP_FC, .n_in = 1, .in = {x}, .name = "fc", .cin = 256, .cout = 136};
  fc.w = need(b, "fc/weights", 2, wshape);
  fc.b = need1(b, "fc/bias", 136);
  b->g->n_outputs = 1;
  b->g->outputs[0] = add(b, fc);
}

int custos__nn_build_graph(custos_nn_model *m, custos_err *err) {
  builder b = {m, &m->graph, err, CUSTOS_OK};
  custos__nn_graph_init(&m->graph, 3);
  switch (m->kind) {
    case CUSTOS_NN_SSD_MOBILENETV1:
      build_ssd(&b);
      break;
    case CUSTOS_NN_TINY_FACE_DETECTOR:
      build_tiny(&b);
      break;
    case CUSTOS_NN_FACE_LANDMARK_68:
      build_landmarks(&b);
      break;
    case CUSTOS_NN_FACE_RECOGNITION:
      build_recognition(&b);
      break;
  }
  return b.rc;
}
