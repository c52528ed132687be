/*
 * nn internals: the weights of a model, the layer description ("graph") that
 * both compute backends run, and the backend interface.
 *
 * The idea: each face-api network is written down once, in nets.c, as a list
 * of layers that follows face-api's TypeScript forward pass op by op (conv,
 * bias, scale, batch norm, activation, residual add, pooling, padding, ...).
 * The reference backend (ref.c) runs that list literally with plain C loops
 * on NHWC arrays.  The oneDNN backend (onednn.c) compiles the same list into
 * primitives: it folds scale layers and batch norms into the convolution
 * weights, fuses activations and residual adds into the convolutions as
 * post-ops and keeps blocked layouts between primitives.  Tests run both on
 * the same list and compare.
 *
 * Values: value 0 is the network input (H x W x in_c, NHWC, batch 1); layer
 * k produces value k + 1.  Every layer reads values produced before it, so
 * the list is in execution order.  Shapes are inferred for a given input size
 * by custos__nn_graph_shapes.
 *
 * Weight layouts are face-api's (tfjs) own, pointed to, not copied:
 *   conv weights       [kh][kw][cin][cout]   (HWIO)
 *   depthwise weights  [kh][kw][c][1]
 *   fully connected    [cin][cout]
 */
#ifndef CUSTOS_NN_INT_H
#define CUSTOS_NN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "nn/nn.h"
#include "util/util.h"

#define NN_MOD "nn"

/* ---- weights ------------------------------------------------------------ */

#define NN_MAX_DIMS 4

/* One tensor of a model, dequantised to float. */
typedef struct nn_tensor {
  char *name;             /* manifest name, owned */
  int ndim;               /* 0 (scalar) .. NN_MAX_DIMS */
  int shape[NN_MAX_DIMS]; /* dims; unused ones are 1 */
  size_t count;           /* number of elements, product of shape */
  bool is_int;            /* an int32 tensor (values stored as float) */
  float *data;            /* count values, owned */
} nn_tensor;

/* ---- the layer description ---------------------------------------------- */

typedef enum nn_op {
  NN_OP_NORMALIZE = 0, /* y = (x - sub[c]) / div - post: the input normalisation */
  NN_OP_CONV,          /* convolution (or depthwise) + optional bias */
  NN_OP_SCALE,         /* y = x * mul[c] + add[c] (face-api's scale layer) */
  NN_OP_BATCHNORM,     /* y = (x - mean) * gamma / sqrt(var + eps) + beta */
  NN_OP_ACT,           /* activation */
  NN_OP_ADD,           /* y = a + b, same shapes */
  NN_OP_MAXPOOL,       /* max pooling, padding excluded */
  NN_OP_AVGPOOL,       /* average pooling, padding excluded */
  NN_OP_PAD_CHANNELS,  /* zero channels appended up to cout */
  NN_OP_PAD_SPATIAL,   /* zero rows appended at the bottom, columns at the right */
  NN_OP_MEAN,          /* mean over H and W: 1 x 1 x C */
  NN_OP_FC,            /* fully connected on the flattened input + optional bias */
  NN_OP_CONCAT         /* inputs flattened (NHWC order) and concatenated: 1 x 1 x sum */
} nn_op;

typedef enum nn_padding {
  NN_SAME = 0, /* TensorFlow 'same': out = ceil(in / stride), extra padding at the end */
  NN_VALID = 1 /* TensorFlow 'valid': out = floor((in - k) / stride) + 1 */
} nn_padding;

typedef enum nn_act {
  NN_ACT_RELU = 0,  /* max(x, 0) */
  NN_ACT_RELU6 = 1, /* min(max(x, 0), 6) (tf.clipByValue(x, 0, 6)) */
  NN_ACT_LEAKY = 2  /* TinyYolov2's leaky: relu(x - 0.1x) + 0.1x */
} nn_act;

#define NN_MAX_INPUTS 8
#define NN_LEAKY_ALPHA 0.10000000149011612f /* tf.scalar(0.1) as float32 */

/* One layer; the fields an op does not use are zero. */
typedef struct nn_layer {
  nn_op op;
  int n_in;              /* number of inputs (1; ADD 2; CONCAT 1..NN_MAX_INPUTS) */
  int in[NN_MAX_INPUTS]; /* input value ids, each < this layer's own value id */
  const char *name;      /* face-api name of the layer ("conv32_1/conv1"), for messages */
  /* CONV, MAXPOOL, AVGPOOL */
  int kh, kw;     /* kernel size */
  int sh, sw;     /* strides */
  nn_padding pad; /* SAME or VALID */
  /* CONV, FC, PAD_CHANNELS */
  int cin;        /* input channels (FC: flattened input size) */
  int cout;       /* output channels */
  bool depthwise; /* CONV: one 3x3 filter per channel, cin == cout */
  const float *w; /* CONV/FC weights (layouts above); SCALE: mul */
  const float *b; /* CONV/FC bias [cout] or NULL; SCALE: add */
  /* BATCHNORM: per-channel [cin] */
  const float *mean, *var, *gamma, *beta;
  float eps;
  /* ACT */
  nn_act act;
  /* PAD_SPATIAL */
  int pad_bottom, pad_right; /* rows and columns of zeros appended */
  /* NORMALIZE */
  float sub[3]; /* per channel, subtracted first */
  float div;    /* then divided by */
  float post;   /* then subtracted */
} nn_layer;

/* Shape of one value (batch 1, NHWC). */
typedef struct nn_shape {
  int h, w, c;
} nn_shape;

#define NN_MAX_OUTPUTS 2

typedef struct nn_graph {
  nn_layer *layers; /* n_layers entries, owned */
  int n_layers;
  int cap;                     /* allocated entries */
  int in_c;                    /* channels of the input */
  int n_outputs;               /* 1 or 2 */
  int outputs[NN_MAX_OUTPUTS]; /* value ids of the outputs */
} nn_graph;

/* Graph building.  custos__nn_graph_add copies *l and returns its value id,
 * or -1 when out of memory. */
void custos__nn_graph_init(nn_graph *g, int in_c);
void custos__nn_graph_free(nn_graph *g);
int custos__nn_graph_add(nn_graph *g, const nn_layer *l);

/* Infers the shape of every value for an input of in_h x in_w and checks the
 * graph (input ids, channel counts, sizes >= 1).  shapes has n_layers + 1
 * entries.  CUSTOS_EINVAL naming the layer when the input is too small or the
 * graph is inconsistent. */
int custos__nn_graph_shapes(const nn_graph *g, int in_h, int in_w, nn_shape *shapes,
                            custos_err *err);

/* TensorFlow's output size and leading padding of one spatial axis; the
 * trailing padding is (out - 1) * stride + k - in - pad_l, which is negative
 * for 'valid' convolutions that leave input pixels unused. */
int custos__nn_out_size(int in, int k, int stride, nn_padding pad);
int custos__nn_pad_l(int in, int k, int stride, nn_padding pad);

/* Number of elements of a shape. */
static inline size_t nn_shape_count(nn_shape s) {
  return (size_t)s.h * (size_t)s.w * (size_t)s.c;
}

/* Runs one layer with the plain C reference kernels: in[i] holds input i
 * (shape in_shapes[i], NHWC), out gets out_shape.  Shared by the reference
 * backend and by the oneDNN backend for the few ops it does not map to
 * primitives. */
void custos__nn_ref_layer(const nn_layer *l, const nn_shape *in_shapes, const float *const *in,
                          nn_shape out_shape, float *out);

/* ---- models --------------------------------------------------------------- */

struct custos_nn_model {
  custos_nn_kind kind;
  const char *name;   /* "face_recognition_model", static */
  char version[64];   /* "<name>@<16 hex>" */
  nn_tensor *tensors; /* n_tensors, owned */
  size_t n_tensors;
  nn_graph graph; /* the network, pointing into tensors */
};

/* Finds a tensor by name; NULL when absent. */
const nn_tensor *custos__nn_model_find(const custos_nn_model *m, const char *name);

/* Builds the layer description of m->kind into m->graph, checking that every
 * tensor it needs exists with the exact shape (CUSTOS_EMODEL naming it). */
int custos__nn_build_graph(custos_nn_model *m, custos_err *err);

/* ---- compute backends --------------------------------------------------- */

/*
 * A compute backend runs a graph.  Like SQLite's VFS or ggml's backends, it is
 * a table of function pointers; a net holds one backend and its state.
 */
typedef struct nn_backend {
  /* Short name for messages and logs ("onednn", "reference"). */
  const char *name;
  /* Compiles g for inputs of in_h x in_w: infers shapes, allocates every
   * buffer and prepares everything run needs.  g and the weights it points to
   * must outlive the state.  On success *state is owned by the caller, who
   * frees it with free_state. */
  int (*build)(const nn_graph *g, int in_h, int in_w, void **state, custos_err *err);
  /* Runs one input of in_h x in_w x g->in_c floats (NHWC) and writes output i,
   * flattened in NHWC order, to outs[i].  Allocates nothing.  One thread at a
   * time per state. */
  int (*run)(void *state, const float *input, float *const *outs, custos_err *err);
  /* Appends a readable list of the steps run performs (one per line, with
   * the implementation chosen for each) to b, for logs and tests. */
  int (*describe)(const void *state, custos_buf *b);
  /* Frees a state from build; NULL-safe. */
  void (*free_state)(void *state);
} nn_backend;

extern const nn_backend custos__nn_backend_reference;
extern const nn_backend custos__nn_backend_onednn;

#endif
