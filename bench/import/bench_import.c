/*
 * The face stage of the import, split: what share of custos_face_embed's
 * time goes to detection, to the landmarks and to the descriptor.
 * bench/import/run applies these shares to the import's own "face" timer
 * (custos import --json, stages_s.face), which times custos_face_embed as a
 * whole.
 *
 * On the photos given (one engine, one thread, as each import worker has):
 *   decode   custos_image_decode of the file's bytes
 *   embed    custos_face_embed: detection (SSD, and the padded retries when
 *            nothing is found), then per face the landmark crop and network,
 *            the alignment crop, the descriptor network and the sharpness
 * and, apart, each per-face step alone, built and run the way the engine
 * does (oneDNN, one OpenMP thread), the median of --net-runs runs:
 *   landmarks   the 112x112 crop (custos__face_sample_square) + landmark net
 *   descriptor  the 150x150 crop + descriptor net + sharpness
 * so that per photo
 *   detection   = embed - faces x (landmarks + descriptor)
 * (a difference of two large timings would drown the small ones in noise on a
 * busy machine; the per-face steps are timed directly instead).
 *
 * usage: bench_import --models DIR [--net-runs N] IMAGE...
 * Prints one JSON object: photos, faces, and milliseconds per photo (decode,
 * embed, detection, landmarks, descriptor) and per face (each step).
 */
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "custos/face.h"
#include "custos/image.h"
#include "face/faceint.h"
#include "nn/nn.h"
#include "util/util.h"
#include "../bench.h"

static void die(const char *what, const custos_err *err) {
  fprintf(stderr, "bench_import: %s: %s\n", what, err && err->message[0] ? err->message : "failed");
  exit(1);
}

/* Median milliseconds of `runs` runs of the network `kind` at side x side. */
static double net_ms(const char *dir, custos_nn_kind kind, int side, int runs) {
  custos_err err;
  custos_nn_model *m = NULL;
  custos_nn_net *net = NULL;
  if (custos__nn_model_load(dir, kind, &m, &err) != CUSTOS_OK) die("model", &err);
  if (custos__nn_net_new(m, CUSTOS_NN_ONEDNN, side, side, &net, &err) != CUSTOS_OK) {
    die("net", &err);
  }
  size_t in_n = (size_t)side * (size_t)side * 3;
  float *in = malloc(in_n * sizeof *in);
  float *outs[2] = {NULL, NULL};
  double *t = malloc((size_t)runs * sizeof *t);
  if (in == NULL || t == NULL) die("memory", NULL);
  for (size_t i = 0; i < in_n; i++) in[i] = (float)((i * 37) % 256);
  for (int i = 0; i < custos__nn_net_outputs(net) && i < 2; i++) {
    outs[i] = malloc(custos__nn_net_output_size(net, i) * sizeof(float));
    if (outs[i] == NULL) die("memory", NULL);
  }
  for (int r = -3; r < runs; r++) { /* three warm-up runs */
    double t0 = now_ms();
    if (custos__nn_net_run(net, in, outs, &err) != CUSTOS_OK) die("run", &err);
    if (r >= 0) t[r] = now_ms() - t0;
  }
  qsort(t, (size_t)runs, sizeof *t, cmp_double);
  double med = t[runs / 2];
  free(t);
  free(in);
  free(outs[0]);
  free(outs[1]);
  custos__nn_net_free(net);
  custos__nn_model_free(m);
  return med;
}

/* Median milliseconds of the crop of a side x side square of img resized to
 * n x n (and, with sharp, the sharpness of the chip). */
static double crop_ms(const custos_image *img, int side, int n, bool sharp, int runs) {
  float *chip = malloc((size_t)n * (size_t)n * 3 * sizeof *chip);
  double *t = malloc((size_t)runs * sizeof *t);
  if (chip == NULL || t == NULL) die("memory", NULL);
  face_irect r = {(img->width - side) / 2, (img->height - side) / 2, side, side};
  volatile double sink = 0;
  for (int k = -3; k < runs; k++) {
    double t0 = now_ms();
    custos__face_sample_square(img, r, false, n, chip);
    if (sharp) sink += custos__face_sharpness(chip, n);
    if (k >= 0) t[k] = now_ms() - t0;
  }
  (void)sink;
  qsort(t, (size_t)runs, sizeof *t, cmp_double);
  double med = t[runs / 2];
  free(t);
  free(chip);
  return med;
}

int main(int argc, char **argv) {
  const char *models = NULL;
  int runs = 51, first = argc;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
      models = argv[++i];
    } else if (strcmp(argv[i], "--net-runs") == 0 && i + 1 < argc) {
      runs = (int)strtol(argv[++i], NULL, 10);
    } else {
      first = i;
      break;
    }
  }
  if (models == NULL || first >= argc || runs < 1) {
    fprintf(stderr, "usage: bench_import --models DIR [--net-runs N] IMAGE...\n");
    return 2;
  }
  custos_err err;
  custos_face_engine *e = NULL;
  custos_face_options o;
  custos_face_options_init(&o); /* the import's pipeline, one worker thread */
  if (custos_face_engine_open(models, &o, &e, &err) != CUSTOS_OK) die("engine", &err);
  double t_dec = 0, t_emb = 0, crop_lm = 0, crop_rec = 0;
  long photos = 0, faces = 0;
  for (int i = first; i < argc; i++) {
    unsigned char *data = NULL;
    size_t len = 0;
    if (custos__read_file(argv[i], (size_t)32 << 20, &data, &len, &err) != CUSTOS_OK) {
      die(argv[i], &err);
    }
    custos_image *img = NULL;
    double t0 = now_ms();
    int rc = custos_image_decode(data, len, NULL, &img, NULL, &err);
    double t1 = now_ms();
    custos__free(data);
    if (rc != CUSTOS_OK) continue;
    custos_face_list *l = NULL;
    if (custos_face_embed(e, img, &l, &err) != CUSTOS_OK) die("embed", &err);
    double t2 = now_ms();
    for (size_t k = 0; k < l->count; k++) {
      /* The crops at this face's size, on this photo. */
      int side = (int)l->faces[k].box.width;
      int aside = (int)l->faces[k].aligned_box.width;
      if (side < 8) side = 8;
      if (aside < 8) aside = 8;
      crop_lm += crop_ms(img, side, CUSTOS_FACE_LM_SIZE, false, 5);
      crop_rec += crop_ms(img, aside, CUSTOS_FACE_CHIP_SIZE, true, 5);
    }
    faces += (long)l->count;
    custos_face_list_free(l);
    custos_image_free(img);
    t_dec += t1 - t0;
    t_emb += t2 - t1;
    photos++;
  }
  custos_face_engine_close(e);
  if (photos == 0) die("no photo decoded", NULL);

  /* The networks alone, in this thread, one OpenMP thread as the engine's
   * workers run them. */
  char dir[PATH_MAX];
  struct stat st;
  snprintf(dir, sizeof dir, "%s/model/face_recognition_model.bin", models);
  if (stat(dir, &st) == 0) {
    snprintf(dir, sizeof dir, "%s/model", models);
  } else {
    snprintf(dir, sizeof dir, "%s", models);
  }
  omp_set_num_threads(1);
  double lm = net_ms(dir, CUSTOS_NN_FACE_LANDMARK_68, CUSTOS_FACE_LM_SIZE, runs);
  double rec = net_ms(dir, CUSTOS_NN_FACE_RECOGNITION, CUSTOS_FACE_CHIP_SIZE, runs);
  double per = 1.0 / (double)photos;
  double fpp = (double)faces * per;
  double c_lm = faces > 0 ? crop_lm / (double)faces : 0;
  double c_rec = faces > 0 ? crop_rec / (double)faces : 0;
  double landmarks = fpp * (c_lm + lm), descriptor = fpp * (c_rec + rec);
  printf(
      "{\"photos\": %ld, \"faces\": %ld, \"decode_ms\": %.3f, \"embed_ms\": %.3f, "
      "\"detection_ms\": %.3f, \"landmarks_ms\": %.3f, \"descriptor_ms\": %.3f, "
      "\"landmark_crop_ms_per_face\": %.3f, \"landmark_net_ms_per_face\": %.3f, "
      "\"descriptor_crop_ms_per_face\": %.3f, \"descriptor_net_ms_per_face\": %.3f}\n",
      photos, faces, t_dec * per, t_emb * per, t_emb * per - landmarks - descriptor, landmarks,
      descriptor, c_lm, lm, c_rec, rec);
  return 0;
}
