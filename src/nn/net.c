/*
 * Nets: a model's layer description compiled on one backend for one input
 * size.  This file checks the input size each network accepts and hands the
 * work to the backend's function table.
 */
#include <string.h>

#include "nn/nnInt.h"

struct custos_nn_net {
  const custos_nn_model *model;    /* not owned */
  const nn_backend *be;            /* static table */
  void *state;                     /* the backend's, owned */
  int in_h, in_w;                  /* input pixels */
  int n_out;                       /* 1 or 2 */
  size_t out_size[NN_MAX_OUTPUTS]; /* floats per output */
};

/* Largest tiny-detector input accepted (face-api's usual sizes are 128..608). */
#define TINY_MAX_SIDE 1024

static int check_size(const custos_nn_model *m, int h, int w, custos_err *err) {
  int fixed = 0;
  switch (m->kind) {
    case CUSTOS_NN_SSD_MOBILENETV1:
      fixed = 512;
      break;
    case CUSTOS_NN_FACE_LANDMARK_68:
      fixed = 112;
      break;
    case CUSTOS_NN_FACE_RECOGNITION:
      fixed = 150;
      break;
    case CUSTOS_NN_TINY_FACE_DETECTOR:
      if (h != w || h < 32 || h > TINY_MAX_SIDE || h % 32 != 0) {
        return custos__err(err, CUSTOS_EINVAL, NN_MOD,
                           "%s: input %dx%d: must be square, a multiple of 32 in 32..%d", m->name,
                           w, h, TINY_MAX_SIDE);
      }
      return CUSTOS_OK;
  }
  if (h != fixed || w != fixed) {
    return custos__err(err, CUSTOS_EINVAL, NN_MOD, "%s: input %dx%d: must be %dx%d", m->name, w, h,
                       fixed, fixed);
  }
  return CUSTOS_OK;
}

int custos__nn_net_new(const custos_nn_model *m, custos_nn_backend_kind backend, int in_h, int in_w,
                       custos_nn_net **out, custos_err *err) {
  int rc = CUSTOS_OK;
  nn_shape *shapes = NULL;
  custos_nn_net *net = NULL;
  *out = NULL;
  if (m == NULL) return custos__err(err, CUSTOS_EINVAL, NN_MOD, "no model");
  rc = check_size(m, in_h, in_w, err);
  if (rc != CUSTOS_OK) return rc;
  const nn_backend *be = backend == CUSTOS_NN_ONEDNN      ? &custos__nn_backend_onednn
                         : backend == CUSTOS_NN_REFERENCE ? &custos__nn_backend_reference
                                                          : NULL;
  if (be == NULL)
    return custos__err(err, CUSTOS_EINVAL, NN_MOD, "unknown backend %d", (int)backend);
  net = custos__calloc(1, sizeof *net);
  shapes = custos__calloc((size_t)m->graph.n_layers + 1, sizeof *shapes);
  if (net == NULL || shapes == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
    goto out;
  }
  rc = custos__nn_graph_shapes(&m->graph, in_h, in_w, shapes, err);
  if (rc != CUSTOS_OK) goto out;
  net->model = m;
  net->be = be;
  net->in_h = in_h;
  net->in_w = in_w;
  net->n_out = m->graph.n_outputs;
  for (int i = 0; i < net->n_out; i++)
    net->out_size[i] = nn_shape_count(shapes[m->graph.outputs[i]]);
  rc = be->build(&m->graph, in_h, in_w, &net->state, err);
  if (rc != CUSTOS_OK) goto out;
  *out = net;
  net = NULL;
out:
  custos__free(shapes);
  custos__nn_net_free(net);
  return rc;
}

void custos__nn_net_free(custos_nn_net *net) {
  if (net == NULL) return;
  if (net->be != NULL) net->be->free_state(net->state);
  custos__free(net);
}

int custos__nn_net_outputs(const custos_nn_net *net) {
  return net->n_out;
}

size_t custos__nn_net_output_size(const custos_nn_net *net, int i) {
  return i >= 0 && i < net->n_out ? net->out_size[i] : 0;
}

int custos__nn_net_run(custos_nn_net *net, const float *input, float *const *outs,
                       custos_err *err) {
  if (net == NULL || input == NULL || outs == NULL) {
    return custos__err(err, CUSTOS_EINVAL, NN_MOD, "missing net, input or outputs");
  }
  for (int i = 0; i < net->n_out; i++) {
    if (outs[i] == NULL) return custos__err(err, CUSTOS_EINVAL, NN_MOD, "output %d is NULL", i);
  }
  return net->be->run(net->state, input, outs, err);
}

int custos__nn_net_describe(const custos_nn_net *net, custos_buf *b) {
  return net->be->describe(net->state, b);
}
