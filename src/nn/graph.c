/*
 * The layer description shared by the backends: building the list of layers
 * and inferring the shape of every value for one input size, with checks, so
 * that neither backend has to trust the list.
 *
 * Padding follows TensorFlow (tfjs' conv_util): 'same' gives ceil(in / s)
 * outputs and pads max((out - 1) * s + k - in, 0) in total, the smaller half
 * first; 'valid' gives floor((in - k) / s) + 1 outputs and pads nothing.
 */
#include <string.h>

#include "nn/nnInt.h"

void custos__nn_graph_init(nn_graph *g, int in_c) {
  memset(g, 0, sizeof *g);
  g->in_c = in_c;
}

void custos__nn_graph_free(nn_graph *g) {
  if (g == NULL) return;
  custos__free(g->layers);
  memset(g, 0, sizeof *g);
}

int custos__nn_graph_add(nn_graph *g, const nn_layer *l) {
  if (g->n_layers == g->cap) {
    int cap = g->cap ? g->cap * 2 : 32;
    nn_layer *p = custos__reallocarray(g->layers, (size_t)cap, sizeof *p);
    if (p == NULL) return -1;
    g->layers = p;
    g->cap = cap;
  }
  g->layers[g->n_layers] = *l;
  return ++g->n_layers;
}

int custos__nn_out_size(int in, int k, int stride, nn_padding pad) {
  if (pad == NN_SAME) return (in + stride - 1) / stride;
  return in < k ? 0 : (in - k) / stride + 1;
}

int custos__nn_pad_l(int in, int k, int stride, nn_padding pad) {
  if (pad == NN_VALID) return 0;
  int out = custos__nn_out_size(in, k, stride, pad);
  int total = (out - 1) * stride + k - in;
  return total > 0 ? total / 2 : 0;
}

static const char *op_name(nn_op op) {
  static const char *const names[] = {
      "normalize", "conv",         "scale",       "batchnorm", "act", "add",   "maxpool",
      "avgpool",   "pad_channels", "pad_spatial", "mean",      "fc",  "concat"};
  return (unsigned)op < CUSTOS_ARRAY_LEN(names) ? names[op] : "?";
}

/* Limits that keep every size computation far from overflow. */
#define MAX_SIDE 8192
#define MAX_CHANNELS 65536
#define MAX_VALUE_ELEMS ((size_t)1 << 30)

int custos__nn_graph_shapes(const nn_graph *g, int in_h, int in_w, nn_shape *shapes,
                            custos_err *err) {
  if (in_h < 1 || in_w < 1 || in_h > MAX_SIDE || in_w > MAX_SIDE) {
    return custos__err(err, CUSTOS_EINVAL, NN_MOD, "input of %dx%d pixels is outside 1..%d", in_w,
                       in_h, MAX_SIDE);
  }
  if (g->in_c < 1 || g->in_c > MAX_CHANNELS || g->n_outputs < 1 || g->n_outputs > NN_MAX_OUTPUTS) {
    return custos__err(err, CUSTOS_EINVAL, NN_MOD, "malformed graph");
  }
  shapes[0] = (nn_shape){in_h, in_w, g->in_c};
  for (int k = 0; k < g->n_layers; k++) {
    const nn_layer *l = &g->layers[k];
    const char *nm = l->name ? l->name : op_name(l->op);
    int want_in = l->op == NN_OP_ADD ? 2 : l->op == NN_OP_CONCAT ? -1 : 1;
    if (l->n_in < 1 || l->n_in > NN_MAX_INPUTS || (want_in > 0 && l->n_in != want_in)) {
      return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s (%s): %d inputs", nm, op_name(l->op),
                         l->n_in);
    }
    for (int i = 0; i < l->n_in; i++) {
      if (l->in[i] < 0 || l->in[i] > k) {
        return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: input %d is not computed yet", nm,
                           l->in[i]);
      }
    }
    nn_shape x = shapes[l->in[0]];
    nn_shape y = x;
    switch (l->op) {
      case NN_OP_NORMALIZE:
        if (x.c > 3 || l->div == 0.0f) {
          return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: bad normalisation", nm);
        }
        break;
      case NN_OP_CONV:
      case NN_OP_MAXPOOL:
      case NN_OP_AVGPOOL:
        if (l->kh < 1 || l->kw < 1 || l->sh < 1 || l->sw < 1 || l->kh > 64 || l->kw > 64 ||
            l->sh > 64 || l->sw > 64) {
          return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: bad kernel or stride", nm);
        }
        y.h = custos__nn_out_size(x.h, l->kh, l->sh, l->pad);
        y.w = custos__nn_out_size(x.w, l->kw, l->sw, l->pad);
        if (l->op == NN_OP_CONV) {
          if (l->cin != x.c || l->cout < 1 || l->cout > MAX_CHANNELS || l->w == NULL ||
              (l->depthwise && l->cin != l->cout)) {
            return custos__err(err, CUSTOS_EINVAL, NN_MOD,
                               "layer %s: %d input channels, the weights take %d", nm, x.c, l->cin);
          }
          y.c = l->cout;
        }
        break;
      case NN_OP_SCALE:
      case NN_OP_BATCHNORM:
        if (l->cin != x.c) {
          return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: %d channels, expected %d", nm,
                             x.c, l->cin);
        }
        break;
      case NN_OP_ACT:
        break;
      case NN_OP_ADD: {
        nn_shape b = shapes[l->in[1]];
        if (b.h != x.h || b.w != x.w || b.c != x.c) {
          return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: adds %dx%dx%d to %dx%dx%d", nm,
                             b.h, b.w, b.c, x.h, x.w, x.c);
        }
        break;
      }
      case NN_OP_PAD_CHANNELS:
        if (l->cout < x.c || l->cout > MAX_CHANNELS) {
          return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: pads %d channels to %d", nm,
                             x.c, l->cout);
        }
        y.c = l->cout;
        break;
      case NN_OP_PAD_SPATIAL:
        if (l->pad_bottom < 0 || l->pad_right < 0 || l->pad_bottom > MAX_SIDE ||
            l->pad_right > MAX_SIDE) {
          return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: bad padding", nm);
        }
        y.h = x.h + l->pad_bottom;
        y.w = x.w + l->pad_right;
        break;
      case NN_OP_MEAN:
        y = (nn_shape){1, 1, x.c};
        break;
      case NN_OP_FC:
        if ((size_t)l->cin != nn_shape_count(x) || l->cout < 1 || l->cout > MAX_CHANNELS ||
            l->w == NULL) {
          return custos__err(err, CUSTOS_EINVAL, NN_MOD,
                             "layer %s: %zu inputs, the weights take %d", nm, nn_shape_count(x),
                             l->cin);
        }
        y = (nn_shape){1, 1, l->cout};
        break;
      case NN_OP_CONCAT: {
        size_t total = 0;
        for (int i = 0; i < l->n_in; i++) total += nn_shape_count(shapes[l->in[i]]);
        if (total > MAX_VALUE_ELEMS) {
          return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: too large", nm);
        }
        y = (nn_shape){1, 1, (int)total};
        break;
      }
      default:
        return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %d: unknown op %d", k, (int)l->op);
    }
    if (y.h < 1 || y.w < 1 || y.c < 1) {
      return custos__err(err, CUSTOS_EINVAL, NN_MOD,
                         "input of %dx%d pixels is too small for layer %s", in_w, in_h, nm);
    }
    if (y.h > MAX_SIDE || y.w > MAX_SIDE || nn_shape_count(y) > MAX_VALUE_ELEMS) {
      return custos__err(err, CUSTOS_EINVAL, NN_MOD, "layer %s: output too large", nm);
    }
    shapes[k + 1] = y;
  }
  for (int i = 0; i < g->n_outputs; i++) {
    if (g->outputs[i] < 0 || g->outputs[i] > g->n_layers) {
      return custos__err(err, CUSTOS_EINVAL, NN_MOD, "malformed graph output %d", i);
    }
  }
  return CUSTOS_OK;
}
