/*
 * The face stage of the import, split: what share of custos_face_embed's
 * time goes to detection, to the landmark network, to the descriptor
 * network, and to the crops and alignment around them.  bench/import/run
 * applies these shares to the import's own "face" timer (custos import
 * --json, stages_s.face), which times custos_face_embed as a whole.
 *
 * On the photos given (one engine, one thread, as each import worker has):
 *   decode   custos_image_decode of the file's bytes
 *   detect   custos_face_detect (SSD, and the padded retries when nothing is found)
 *   embed    custos_face_embed (detection again, then per face: landmark crop,
 *            landmark net, alignment crop, descriptor net, sharpness)
 * and, apart, the landmark net (112x112) and the descriptor net (150x150)
 * alone on a fixed input, built the way the engine builds them (oneDNN, one
 * OpenMP thread): the median of --net-runs runs each.  Per photo then:
 *   landmarks  = faces x landmark net
 *   descriptor = faces x descriptor net
 *   crops      = embed - detect - landmarks - descriptor
 *
 * usage: bench_import --models DIR [--net-runs N] IMAGE...
 * Prints one JSON object: photos, faces, and the mean milliseconds per photo
 * of decode, detect, embed, landmarks, descriptor and crops.
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
#include "nn/nn.h"
#include "util/util.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, const custos_err *err) {
  fprintf(stderr, "bench_import: %s: %s\n", what, err && err->message[0] ? err->message : "failed");
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
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
  double t_dec = 0, t_det = 0, t_emb = 0;
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
    if (custos_face_detect(e, img, &l, &err) != CUSTOS_OK) die("detect", &err);
    double t2 = now_ms();
    custos_face_list_free(l);
    if (custos_face_embed(e, img, &l, &err) != CUSTOS_OK) die("embed", &err);
    double t3 = now_ms();
    faces += (long)l->count;
    custos_face_list_free(l);
    custos_image_free(img);
    t_dec += t1 - t0;
    t_det += t2 - t1;
    t_emb += t3 - t2;
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
  double lm = net_ms(dir, CUSTOS_NN_FACE_LANDMARK_68, 112, runs);
  double rec = net_ms(dir, CUSTOS_NN_FACE_RECOGNITION, 150, runs);
  double fpp = (double)faces / (double)photos;
  double per = 1.0 / (double)photos;
  double crops = t_emb * per - t_det * per - fpp * (lm + rec);
  printf("{\"photos\": %ld, \"faces\": %ld, \"decode_ms\": %.3f, \"detect_ms\": %.3f, "
         "\"embed_ms\": %.3f, \"landmark_net_ms\": %.3f, \"descriptor_net_ms\": %.3f, "
         "\"landmarks_ms\": %.3f, \"descriptor_ms\": %.3f, \"crops_ms\": %.3f}\n",
         photos, faces, t_dec * per, t_det * per, t_emb * per, lm, rec, fpp * lm, fpp * rec,
         crops);
  return 0;
}
