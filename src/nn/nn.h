/*
 * nn: the face-api networks, loaded from tfjs weight manifests and run on a
 * compute backend.
 *
 * A model (custos_nn_model) is the weights of one network, read from
 * "<dir>/<name>-weights_manifest.json" and its ".bin", dequantised
 * (value = q * scale + min for uint8 tensors) and checked against the shapes
 * the network needs.  A net (custos_nn_net) is that model built for one
 * backend and one input size: built once (oneDNN JIT-compiles its
 * primitives then), run many times with no allocation per call.  A net is
 * used by one thread at a time; several nets may share one model.
 *
 * Inputs are NHWC float32 RGB in 0..255, exactly the tensor face-api feeds
 * the network after its own pad-to-square and resize (the face module does
 * those); each net applies its own normalisation (mean subtraction,
 * scaling) as face-api's forwardInput does.
 *
 * Outputs (raw, before any decoding):
 *   SSD_MOBILENETV1      input 512x512: boxes [5118][4] (the box encodings,
 *                        before anchor decoding) and scores [5118][3] (class
 *                        logits before the sigmoid), concatenated in face-api's
 *                        order of the six prediction layers.
 *   TINY_FACE_DETECTOR   input S x S (S a multiple of 32, 32..1024):
 *                        [S/32][S/32][5 anchors][5] grid as face-api's
 *                        TinyYolov2 produces it (x, y, w, h, score logits;
 *                        one class, so no class scores: 25 floats a cell).
 *   FACE_LANDMARK_68     input 112x112: [136] = 68 (x, y) in 0..1 of the input.
 *   FACE_RECOGNITION     input 150x150: [128] descriptor.
 */
#ifndef CUSTOS_NN_H
#define CUSTOS_NN_H

#include <stddef.h>

#include "util/util.h"

typedef enum custos_nn_kind {
  CUSTOS_NN_SSD_MOBILENETV1 = 0,    /* ssd_mobilenetv1_model */
  CUSTOS_NN_TINY_FACE_DETECTOR = 1, /* tiny_face_detector_model */
  CUSTOS_NN_FACE_LANDMARK_68 = 2,   /* face_landmark_68_model */
  CUSTOS_NN_FACE_RECOGNITION = 3    /* face_recognition_model */
} custos_nn_kind;

typedef enum custos_nn_backend_kind {
  CUSTOS_NN_ONEDNN = 0,   /* oneDNN primitives, the fast path */
  CUSTOS_NN_REFERENCE = 1 /* plain C loops, the reference for tests */
} custos_nn_backend_kind;

typedef struct custos_nn_model custos_nn_model;
typedef struct custos_nn_net custos_nn_net;

/* Loads and checks the weights of `kind` from models_dir.  Errors name the
 * file or the tensor (CUSTOS_ENOENT, CUSTOS_EMODEL, CUSTOS_ENOMEM).  Caller
 * frees with custos__nn_model_free. */
int custos__nn_model_load(const char *models_dir, custos_nn_kind kind, custos_nn_model **out,
                          custos_err *err);
void custos__nn_model_free(custos_nn_model *m);

/* Version string of a model, for logs and templates: "<name>@<sha256 of the
 * .bin, first 16 hex digits>". */
const char *custos__nn_model_version(const custos_nn_model *m);

/* A tensor of the model by its manifest name, dequantised to float (int32
 * tensors converted): *data is owned by the model, *count is its number of
 * elements.  The SSD's anchors are "Output/extra_dim" ([1][5118][4]: ymin,
 * xmin, ymax, xmax), checked at load time.  CUSTOS_ENOENT when absent. */
int custos__nn_model_tensor(const custos_nn_model *m, const char *name, const float **data,
                            size_t *count);

/* Builds the network of model m on a backend for inputs of in_h x in_w pixels
 * (fixed by the network except for the tiny detector).  The model must
 * outlive the net.  Caller frees with custos__nn_net_free.
 *
 * Threads: a oneDNN net runs with the OpenMP thread count that was current
 * (omp_get_max_threads()) in the thread that built it, whatever the count
 * is when it runs, so results are reproducible for a given net.  Build each
 * net in the thread that will run it, after omp_set_num_threads(1) for one
 * thread per net. */
int custos__nn_net_new(const custos_nn_model *m, custos_nn_backend_kind backend, int in_h,
                       int in_w, custos_nn_net **out, custos_err *err);
void custos__nn_net_free(custos_nn_net *net);

/* Number of floats of output i (0: the only or first output, 1: the SSD's
 * scores) and the number of outputs. */
int custos__nn_net_outputs(const custos_nn_net *net);
size_t custos__nn_net_output_size(const custos_nn_net *net, int i);

/* Runs the net on one NHWC RGB input of in_h x in_w x 3 floats (0..255) and
 * writes its outputs into outs[i] (custos__nn_net_output_size floats each). */
int custos__nn_net_run(custos_nn_net *net, const float *input, float *const *outs,
                       custos_err *err);

/* Appends a readable list of the steps the net runs (with the oneDNN
 * implementation and layout of each) to b, for logs and tests. */
int custos__nn_net_describe(const custos_nn_net *net, custos_buf *b);

#endif
