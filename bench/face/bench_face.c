/*
 * Face engine benchmark (make bench-face): the networks and the whole
 * pipeline on the six demo photos, one thread and two, beside the figures the
 * reference (face-api on tfjs-wasm, tools/reference --time) gives in the same
 * run.  bench/face/run drives it in three modes:
 *
 *   bench_face measure [--models DIR] [--net-runs N] [--ssd-runs N] [--reps N]
 *                      [--trials N] [--pair-reps N] [--only-2t] --out FILE PHOTO...
 *       custos's figures, written as one JSON object to FILE:
 *         descriptor  the recognition net on a 150x150 chip of the first
 *                     photo's first face (custos__nn_net_run: normalisation
 *                     and network, as face-api's computeFaceDescriptor on a
 *                     prepared tensor); median over --net-runs runs;
 *         landmarks   crop, pad to square, resize to 112, net, mapping back
 *                     (face-api's detectLandmarks); median over --net-runs;
 *         ssd         pad to square, resize to 512, net, box decoding of each
 *                     photo (face-api's forwardInput); per-photo medians of
 *                     --ssd-runs, averaged; and the net alone on one input;
 *         image       custos_face_embed on one engine with one worker, per
 *                     photo, without and with JPEG decoding from memory
 *                     (custos_image_decode); per-photo medians of --reps,
 *                     averaged over the photos;
 *         throughput  faces per second over the photos repeated --pair-reps
 *                     times, two at a time: custos_face_embed_many on an
 *                     engine with two workers (decoded images), the same on
 *                     one worker, and two threads each with its own
 *                     one-worker engine that decode and embed photos from a
 *                     shared queue (--only-2t: the first alone); median
 *                     over --trials.
 *       The single-thread figures assume OMP_NUM_THREADS=1 (the engine's
 *       workers set one OpenMP thread each anyway; the nets built here are
 *       built after omp_set_num_threads(1)).
 *
 *   bench_face rss OUTFILE CMD [ARG...]
 *       runs CMD (stdin, stdout, stderr inherited), writes "KB CPU_MS WALL_MS"
 *       to OUTFILE: its peak resident set size (wait4's ru_maxrss,
 *       descendants it waited for included), its user + system CPU time and
 *       its wall time; exits with CMD's status.
 *
 *   bench_face report --ours FILE [--avx2 FILE] --ref FILE [--ref-cpu FILE]
 *                     [--rss FILE] [--rss-2t FILE] [--ref-rss FILE] [--load TEXT]
 *       prints the table, then, last, one JSON line:
 *       {"descriptor_ms", "ssd_ms", "image_ms", "ref_descriptor_ms",
 *        "ref_ssd_ms", "ref_image_ms", "faces_per_s_2t", "peak_rss_mb", ...}
 *       --ref holds the reference's --time lines (one JSON object per photo),
 *       --ref-cpu the same from a run with its clock on CPU time
 *       (bench/face/cpu-clock.js); --avx2 a measure file made with
 *       DNNL_MAX_CPU_ISA=AVX2; the --rss files come from the rss mode.
 *
 * Reference figures are aggregated as ours are: per-photo medians averaged
 * over the photos (descriptor and landmarks weighted by the faces).
 *
 * On a shared machine wall times stretch with other jobs' load, so custos's
 * CPU times (of the thread that computes) are printed beside its wall times,
 * and with --ref-cpu the reference's CPU times beside them: the figures an
 * idle core would give.  The official figures are the wall-time medians.
 */
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "custos/custos.h"
#include "face/faceint.h"
#include "nn/nn.h"
#include "util/util.h"
#include "../bench.h"

#define MAX_PHOTOS 16

static void die(const char *what, const custos_err *err) {
  fprintf(stderr, "bench_face: %s: %s\n", what, err && err->message[0] ? err->message : "failed");
  exit(1);
}

static long parse_count(const char *s, const char *opt) {
  char *end = NULL;
  const long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 1 || v > 100000) {
    fprintf(stderr, "bench_face: %s: expected 1..100000, got '%s'\n", opt, s);
    exit(2);
  }
  return v;
}

/* Sets key to v rounded to `digits` decimals, or null when v is not finite. */
static void jnum(json_t *o, const char *key, double v, int digits) {
  if (isnan(v) || isinf(v)) {
    json_object_set_new(o, key, json_null());
    return;
  }
  const double s = pow(10, digits);
  json_object_set_new(o, key, json_real(round(v * s) / s));
}

/* ---- measure ---------------------------------------------------------------- */

typedef struct photo {
  const char *path;
  unsigned char *data; /* the JPEG file */
  size_t len;
  custos_image *img;        /* decoded once, for the runs without decoding */
  size_t faces;             /* found by custos */
  custos_face_box box0;     /* first face's detection box */
  custos_face_box aligned0; /* first face's reference crop */
  double ssd_ms, image_ms, image_dec_ms, decode_ms; /* wall medians */
  double ssd_cpu, image_cpu, image_dec_cpu;         /* CPU-time medians */
} photo;

/* The distinct oneDNN implementations of a net's steps with their counts,
 * "jit:avx512_core x12, ..." (from custos__nn_net_describe). */
static void net_impls(const custos_nn_net *net, char *out, size_t size) {
  custos_buf b;
  custos__buf_init(&b, 1 << 20);
  out[0] = '\0';
  if (custos__nn_net_describe(net, &b) != CUSTOS_OK || b.data == NULL) {
    custos__buf_free(&b);
    return;
  }
  char names[16][48];
  int counts[16], n = 0;
  for (char *line = b.data; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    int idx;
    char what[32], impl[48];
    if (sscanf(line, "%d %31s %47s", &idx, what, impl) == 3 && strchr(impl, ':') != NULL) {
      int k = 0;
      while (k < n && strcmp(names[k], impl) != 0) k++;
      if (k == n && n < 16) {
        snprintf(names[n], sizeof names[n], "%s", impl);
        counts[n++] = 0;
      }
      if (k < n) counts[k]++;
    }
    line = nl ? nl + 1 : NULL;
  }
  size_t o = 0;
  for (int k = 0; k < n && o < size; k++) {
    int w = snprintf(out + o, size - o, "%s%s x%d", k ? ", " : "", names[k], counts[k]);
    if (w < 0) break;
    o += (size_t)w;
  }
  custos__buf_free(&b);
}

/* The models folder as the engine takes it (the manifests' folder or its
 * parent) to the manifests' folder, which nn wants. */
static void manifest_dir(const char *models, char *out, size_t size) {
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/face_recognition_model-weights_manifest.json", models);
  if (access(probe, R_OK) == 0)
    snprintf(out, size, "%s", models);
  else
    snprintf(out, size, "%s/model", models);
}

static custos_nn_net *build_net(const char *models, custos_nn_kind kind, int side,
                                custos_nn_model **model) {
  custos_err err;
  custos_err_clear(&err);
  char dir[4096];
  manifest_dir(models, dir, sizeof dir);
  if (custos__nn_model_load(dir, kind, model, &err) != CUSTOS_OK) die("model", &err);
  custos_nn_net *net = NULL;
  if (custos__nn_net_new(*model, CUSTOS_NN_ONEDNN, side, side, &net, &err) != CUSTOS_OK)
    die("net", &err);
  return net;
}

static face_irect irect_of(custos_face_box b) {
  return (face_irect){(int)b.x, (int)b.y, (int)b.width, (int)b.height};
}

/* The two-workers queue: each thread decodes and embeds photos in turn. */
typedef struct queue {
  photo *ph;
  int nph;
  long total; /* images to process */
  atomic_long next;
  atomic_long faces;
  atomic_int go;
} queue;

typedef struct qworker {
  queue *q;
  custos_face_engine *e;
  int rc;
} qworker;

static void *qworker_main(void *arg) {
  qworker *w = arg;
  queue *q = w->q;
  while (!atomic_load(&q->go)) sched_yield();
  for (;;) {
    const long i = atomic_fetch_add(&q->next, 1);
    if (i >= q->total) break;
    const photo *p = &q->ph[i % q->nph];
    custos_image *img = NULL;
    custos_face_list *l = NULL;
    if (custos_image_decode(p->data, p->len, NULL, &img, NULL, NULL) != CUSTOS_OK ||
        custos_face_embed(w->e, img, &l, NULL) != CUSTOS_OK) {
      w->rc = 1;
    } else {
      atomic_fetch_add(&q->faces, (long)l->count);
    }
    custos_face_list_free(l);
    custos_image_free(img);
  }
  return NULL;
}

/* Faces per second of the two-thread-workers queue: one trial.  *cpu gets
 * the process's CPU time per face, ms. */
static double queue_trial(custos_face_engine *const e[2], photo *ph, int nph, int reps,
                          double *cpu) {
  queue q = {.ph = ph, .nph = nph, .total = (long)reps * nph};
  atomic_init(&q.next, 0);
  atomic_init(&q.faces, 0);
  atomic_init(&q.go, 0);
  qworker w[2] = {{&q, e[0], 0}, {&q, e[1], 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    if (pthread_create(&t[i], NULL, qworker_main, &w[i]) != 0) die("pthread_create", NULL);
  }
  const double t0 = now_ms(), c0 = bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
  atomic_store(&q.go, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  const double ms = now_ms() - t0;
  if (w[0].rc || w[1].rc) die("two-worker embed", NULL);
  const double faces = (double)atomic_load(&q.faces);
  *cpu = (bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0) / faces;
  return faces / (ms / 1e3);
}

/* Faces per second of engine e over the photos, two at a time, reps times;
 * *cpu gets the process's CPU time per face, ms. */
static double pairs_trial(custos_face_engine *e, photo *ph, int nph, int reps, double *cpu) {
  long faces = 0;
  const double t0 = now_ms(), c0 = bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
  for (int r = 0; r < reps; r++) {
    for (int i = 0; i < nph; i += 2) {
      const size_t n = i + 1 < nph ? 2 : 1;
      const custos_image *imgs[2] = {ph[i].img, n == 2 ? ph[i + 1].img : NULL};
      custos_face_list *outs[2] = {NULL, NULL};
      int rcs[2];
      if (custos_face_embed_many(e, imgs, n, true, outs, rcs, NULL) != CUSTOS_OK)
        die("embed_many", NULL);
      for (size_t k = 0; k < n; k++) {
        faces += (long)outs[k]->count;
        custos_face_list_free(outs[k]);
      }
    }
  }
  const double ms = now_ms() - t0;
  *cpu = (bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)faces;
  return (double)faces / (ms / 1e3);
}

static custos_face_engine *open_engine(const char *models, int threads) {
  custos_face_options o;
  custos_face_options_init(&o);
  o.threads = threads;
  custos_face_engine *e = NULL;
  custos_err err;
  custos_err_clear(&err);
  if (custos_face_engine_open(models, &o, &e, &err) != CUSTOS_OK) die("engine", &err);
  return e;
}

static int cmd_measure(int argc, char **argv) {
  const char *models = custos_face_default_models_dir(), *out_path = NULL;
  int net_runs = 201, ssd_runs = 9, ssd_net_runs = 31, reps = 7, trials = 5, pair_reps = 2;
  bool only_2t = false;
  int a = 0;
  for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
    if (strcmp(argv[a], "--only-2t") == 0) {
      only_2t = true;
      continue;
    }
    if (a + 1 >= argc) {
      fprintf(stderr, "bench_face: %s needs a value\n", argv[a]);
      return 2;
    }
    const char *o = argv[a], *v = argv[++a];
    if (strcmp(o, "--models") == 0)
      models = v;
    else if (strcmp(o, "--out") == 0)
      out_path = v;
    else if (strcmp(o, "--net-runs") == 0)
      net_runs = (int)parse_count(v, o);
    else if (strcmp(o, "--ssd-runs") == 0)
      ssd_runs = (int)parse_count(v, o);
    else if (strcmp(o, "--reps") == 0)
      reps = (int)parse_count(v, o);
    else if (strcmp(o, "--trials") == 0)
      trials = (int)parse_count(v, o);
    else if (strcmp(o, "--pair-reps") == 0)
      pair_reps = (int)parse_count(v, o);
    else {
      fprintf(stderr, "bench_face: unknown option %s\n", o);
      return 2;
    }
  }
  const int nph = argc - a;
  if (out_path == NULL || nph < 1 || nph > MAX_PHOTOS) {
    fprintf(stderr, "bench_face measure: --out FILE and 1..%d photos needed\n", MAX_PHOTOS);
    return 2;
  }
  omp_set_num_threads(1);
  custos_err err;
  custos_err_clear(&err);
  photo ph[MAX_PHOTOS];
  memset(ph, 0, sizeof ph);
  size_t total_faces = 0;

  /* The photos, and a first pass of the engine (warm-up; faces and crops). */
  custos_face_engine *e1 = open_engine(models, 1);
  for (int i = 0; i < nph; i++) {
    photo *p = &ph[i];
    p->path = argv[a + i];
    if (custos__read_file(p->path, CUSTOS_IMAGE_MAX_FILE_BYTES, &p->data, &p->len, &err) !=
        CUSTOS_OK)
      die(p->path, &err);
    if (custos_image_decode(p->data, p->len, NULL, &p->img, NULL, &err) != CUSTOS_OK)
      die(p->path, &err);
    custos_face_list *l = NULL;
    if (custos_face_embed(e1, p->img, &l, &err) != CUSTOS_OK) die(p->path, &err);
    p->faces = l->count;
    total_faces += l->count;
    if (l->count > 0) {
      p->box0 = l->faces[0].box;
      p->aligned0 = l->faces[0].aligned_box;
    }
    custos_face_list_free(l);
  }
  if (ph[0].faces == 0 || ph[0].aligned0.width < 1 || ph[0].aligned0.height < 1) {
    fprintf(stderr, "bench_face: no usable face in %s\n", ph[0].path);
    return 1;
  }
  int nt = net_runs + 10;
  if (nt < ssd_net_runs) nt = ssd_net_runs;
  if (nt < ssd_runs) nt = ssd_runs;
  if (nt < 3 * reps) nt = 3 * reps;
  if (nt < 3 * trials) nt = 3 * trials;
  double *t = malloc(sizeof(double) * (size_t)nt);
  double *c = malloc(sizeof(double) * (size_t)nt); /* CPU times beside t */
  if (t == NULL || c == NULL) die("out of memory", NULL);

  /* Descriptor: the net on the first face's 150x150 reference chip. */
  custos_nn_model *m_rec = NULL, *m_lm = NULL, *m_ssd = NULL;
  custos_nn_net *rec = build_net(models, CUSTOS_NN_FACE_RECOGNITION, CUSTOS_FACE_CHIP_SIZE, &m_rec);
  float *chip = malloc(sizeof(float) * CUSTOS_FACE_CHIP_SIZE * CUSTOS_FACE_CHIP_SIZE * 3);
  if (chip == NULL) die("out of memory", NULL);
  float desc[CUSTOS_FACE_DESCRIPTOR_DIM];
  float *routs[1] = {desc};
  custos__face_sample_square(ph[0].img, irect_of(ph[0].aligned0), true, CUSTOS_FACE_CHIP_SIZE,
                             chip);
  for (int r = 0; r < 10; r++) custos__nn_net_run(rec, chip, routs, NULL);
  for (int r = 0; r < net_runs; r++) {
    const double t0 = now_ms(), c0 = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID);
    if (custos__nn_net_run(rec, chip, routs, &err) != CUSTOS_OK) die("descriptor", &err);
    t[r] = now_ms() - t0;
    c[r] = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
  }
  const double desc_ms = median(t, net_runs), desc_min = t[0], desc_cpu = median(c, net_runs);
  char impl_rec[512];
  net_impls(rec, impl_rec, sizeof impl_rec);

  /* Landmarks: detection crop -> 112x112 -> net -> image coordinates. */
  custos_nn_net *lm = build_net(models, CUSTOS_NN_FACE_LANDMARK_68, CUSTOS_FACE_LM_SIZE, &m_lm);
  float *lm_in = malloc(sizeof(float) * CUSTOS_FACE_LM_SIZE * CUSTOS_FACE_LM_SIZE * 3);
  if (lm_in == NULL) die("out of memory", NULL);
  float lm_out[136];
  float *louts[1] = {lm_out};
  double pts[CUSTOS_FACE_LANDMARKS][2];
  const face_irect lr = custos__face_clip_box(ph[0].box0, ph[0].img->width, ph[0].img->height);
  for (int r = 0; r < net_runs + 10; r++) {
    const double t0 = now_ms(), c0 = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID);
    custos__face_sample_square(ph[0].img, lr, true, CUSTOS_FACE_LM_SIZE, lm_in);
    if (custos__nn_net_run(lm, lm_in, louts, &err) != CUSTOS_OK) die("landmarks", &err);
    custos__face_landmarks_map(lm_out, lr.width, lr.height, ph[0].box0.x, ph[0].box0.y, pts);
    if (r >= 10) {
      t[r - 10] = now_ms() - t0;
      c[r - 10] = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    }
  }
  const double lm_ms = median(t, net_runs), lm_cpu = median(c, net_runs);

  /* SSD: the net alone at 512x512, then face-api's forwardInput per photo. */
  custos_nn_net *ssd = build_net(models, CUSTOS_NN_SSD_MOBILENETV1, CUSTOS_FACE_SSD_SIZE, &m_ssd);
  const float *anchors = NULL;
  size_t nanch = 0;
  if (custos__nn_model_tensor(m_ssd, "Output/extra_dim", &anchors, &nanch) != CUSTOS_OK ||
      nanch != CUSTOS_FACE_SSD_ANCHORS * 4)
    die("SSD anchors", NULL);
  const size_t side = CUSTOS_FACE_SSD_SIZE;
  float *ssd_in = malloc(sizeof(float) * side * side * 3);
  float *enc = malloc(sizeof(float) * custos__nn_net_output_size(ssd, 0));
  float *logits = malloc(sizeof(float) * custos__nn_net_output_size(ssd, 1));
  float *boxes = malloc(sizeof(float) * CUSTOS_FACE_SSD_ANCHORS * 4);
  float *scores = malloc(sizeof(float) * CUSTOS_FACE_SSD_ANCHORS);
  if (ssd_in == NULL || enc == NULL || logits == NULL || boxes == NULL || scores == NULL)
    die("out of memory", NULL);
  float *souts[2] = {enc, logits};
  {
    const face_irect whole = {0, 0, ph[0].img->width, ph[0].img->height};
    custos__face_sample_square(ph[0].img, whole, false, CUSTOS_FACE_SSD_SIZE, ssd_in);
  }
  for (int r = 0; r < 3; r++) custos__nn_net_run(ssd, ssd_in, souts, NULL);
  for (int r = 0; r < ssd_net_runs; r++) {
    const double t0 = now_ms(), c0 = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID);
    if (custos__nn_net_run(ssd, ssd_in, souts, &err) != CUSTOS_OK) die("ssd", &err);
    t[r] = now_ms() - t0;
    c[r] = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
  }
  const double ssd_net_ms = median(t, ssd_net_runs), ssd_net_cpu = median(c, ssd_net_runs);
  char impl_ssd[512];
  net_impls(ssd, impl_ssd, sizeof impl_ssd);
  double ssd_sum = 0, ssd_cpu_sum = 0;
  for (int i = 0; i < nph; i++) {
    const face_irect whole = {0, 0, ph[i].img->width, ph[i].img->height};
    for (int r = 0; r < ssd_runs; r++) {
      const double t0 = now_ms(), c0 = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID);
      custos__face_sample_square(ph[i].img, whole, false, CUSTOS_FACE_SSD_SIZE, ssd_in);
      if (custos__nn_net_run(ssd, ssd_in, souts, &err) != CUSTOS_OK) die("ssd", &err);
      custos__face_ssd_decode(anchors, enc, logits, CUSTOS_FACE_SSD_ANCHORS, boxes, scores);
      t[r] = now_ms() - t0;
      c[r] = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    }
    ph[i].ssd_ms = median(t, ssd_runs);
    ph[i].ssd_cpu = median(c, ssd_runs);
    ssd_sum += ph[i].ssd_ms;
    ssd_cpu_sum += ph[i].ssd_cpu;
  }
  custos__nn_net_free(ssd);
  custos__nn_net_free(lm);
  custos__nn_net_free(rec);
  custos__nn_model_free(m_ssd);
  custos__nn_model_free(m_lm);
  custos__nn_model_free(m_rec);

  /* End to end, one worker: decode (timed) then embed (timed) per rep. */
  double img_sum = 0, img_dec_sum = 0, dec_sum = 0, img_cpu_sum = 0, img_dec_cpu_sum = 0;
  for (int i = 0; i < nph; i++) {
    photo *p = &ph[i];
    double *te = t, *td = t + reps, *ts = t + 2 * reps;
    for (int r = 0; r < reps; r++) {
      custos_image *img = NULL;
      custos_face_list *l = NULL;
      const double t0 = now_ms(), c0 = bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
      if (custos_image_decode(p->data, p->len, NULL, &img, NULL, &err) != CUSTOS_OK)
        die(p->path, &err);
      const double t1 = now_ms(), c1 = bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
      if (custos_face_embed(e1, img, &l, &err) != CUSTOS_OK) die(p->path, &err);
      const double t2v = now_ms(), c2 = bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
      c[r] = c2 - c1;
      c[reps + r] = c2 - c0;
      if (l->count != p->faces) fprintf(stderr, "bench_face: %s: face count changed\n", p->path);
      custos_face_list_free(l);
      custos_image_free(img);
      td[r] = t1 - t0;
      te[r] = t2v - t1;
      ts[r] = t2v - t0;
    }
    p->decode_ms = median(td, reps);
    p->image_ms = median(te, reps);
    p->image_dec_ms = median(ts, reps);
    p->image_cpu = median(c, reps);
    p->image_dec_cpu = median(c + reps, reps);
    img_cpu_sum += p->image_cpu;
    img_dec_cpu_sum += p->image_dec_cpu;
    img_sum += p->image_ms;
    img_dec_sum += p->image_dec_ms;
    dec_sum += p->decode_ms;
  }

  /* Throughput: two photos at a time. */
  custos_face_engine *e2 = open_engine(models, 2);
  custos_face_engine *eq[2] = {e1, open_engine(models, 1)};
  double *f1 = t, *f2 = t + trials, *fq = t + 2 * trials, *c2 = c, dummy;
  pairs_trial(e2, ph, nph, 1, &dummy); /* warm-up of the second worker */
  if (!only_2t) queue_trial(eq, ph, nph, 1, &dummy);
  for (int k = 0; k < trials; k++) {
    f2[k] = pairs_trial(e2, ph, nph, pair_reps, &c2[k]);
    fq[k] = only_2t ? NAN : queue_trial(eq, ph, nph, pair_reps, &dummy);
    f1[k] = only_2t ? NAN : pairs_trial(e1, ph, nph, pair_reps, &dummy);
  }
  const double fps2 = median(f2, trials);
  const double fps1 = only_2t ? NAN : median(f1, trials), fpsq = only_2t ? NAN : median(fq, trials);
  const double cpu_face_2t = median(c2, trials);
  custos_face_engine_close(e2);
  custos_face_engine_close(eq[1]);
  custos_face_engine_close(e1);

  const char *isa = getenv("DNNL_MAX_CPU_ISA");
  json_t *o = json_object();
  json_object_set_new(o, "max_cpu_isa", json_string(isa ? isa : ""));
  json_object_set_new(o, "impl_descriptor", json_string(impl_rec));
  json_object_set_new(o, "impl_ssd", json_string(impl_ssd));
  jnum(o, "descriptor_ms", desc_ms, 3);
  jnum(o, "descriptor_min_ms", desc_min, 3);
  jnum(o, "descriptor_cpu_ms", desc_cpu, 3);
  jnum(o, "landmarks_ms", lm_ms, 3);
  jnum(o, "landmarks_cpu_ms", lm_cpu, 3);
  jnum(o, "ssd_net_ms", ssd_net_ms, 3);
  jnum(o, "ssd_net_cpu_ms", ssd_net_cpu, 3);
  jnum(o, "ssd_ms", ssd_sum / nph, 3);
  jnum(o, "ssd_cpu_ms", ssd_cpu_sum / nph, 3);
  jnum(o, "image_ms", img_sum / nph, 3);
  jnum(o, "image_cpu_ms", img_cpu_sum / nph, 3);
  jnum(o, "image_ms_with_decode", img_dec_sum / nph, 3);
  jnum(o, "image_cpu_ms_with_decode", img_dec_cpu_sum / nph, 3);
  jnum(o, "decode_ms", dec_sum / nph, 3);
  jnum(o, "faces_per_s_1t", fps1, 2);
  jnum(o, "faces_per_s_2t", fps2, 2);
  jnum(o, "faces_per_s_2t_workers", fpsq, 2);
  jnum(o, "cpu_ms_per_face_2t", cpu_face_2t, 3);
  json_object_set_new(o, "faces", json_integer((json_int_t)total_faces));
  json_object_set_new(o, "net_runs", json_integer(net_runs));
  json_object_set_new(o, "reps", json_integer(reps));
  json_object_set_new(o, "trials", json_integer(trials));
  json_object_set_new(o, "pair_reps", json_integer(pair_reps));
  json_t *arr = json_array();
  for (int i = 0; i < nph; i++) {
    const char *base = strrchr(ph[i].path, '/');
    json_t *po = json_object();
    json_object_set_new(po, "file", json_string(base ? base + 1 : ph[i].path));
    json_object_set_new(po, "faces", json_integer((json_int_t)ph[i].faces));
    jnum(po, "ssd_ms", ph[i].ssd_ms, 3);
    jnum(po, "image_ms", ph[i].image_ms, 3);
    jnum(po, "image_ms_with_decode", ph[i].image_dec_ms, 3);
    jnum(po, "decode_ms", ph[i].decode_ms, 3);
    jnum(po, "image_cpu_ms", ph[i].image_cpu, 3);
    json_array_append_new(arr, po);
  }
  json_object_set_new(o, "photos", arr);
  if (json_dump_file(o, out_path, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) !=
      0)
    die(out_path, NULL);
  json_decref(o);
  for (int i = 0; i < nph; i++) {
    custos_image_free(ph[i].img);
    custos__free(ph[i].data);
  }
  free(t);
  free(c);
  free(chip);
  free(lm_in);
  free(ssd_in);
  free(enc);
  free(logits);
  free(boxes);
  free(scores);
  return 0;
}

/* ---- rss -------------------------------------------------------------------- */

static int cmd_rss(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_face rss OUTFILE CMD [ARG...]\n");
    return 2;
  }
  const pid_t pid = fork();
  if (pid < 0) die("fork", NULL);
  if (pid == 0) {
    execvp(argv[1], argv + 1);
    perror("bench_face: exec");
    _exit(127);
  }
  int st = 0;
  struct rusage ru;
  const double t0 = now_ms();
  if (wait4(pid, &st, 0, &ru) < 0) die("wait4", NULL);
  const double wall = now_ms() - t0;
  const double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  FILE *f = fopen(argv[0], "w");
  if (f == NULL) die(argv[0], NULL);
  fprintf(f, "%ld %.1f %.1f\n", ru.ru_maxrss, cpu, wall);
  fclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- report ----------------------------------------------------------------- */

static double num(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static json_t *load_json(const char *path) {
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (j == NULL) {
    fprintf(stderr, "bench_face: %s: %s (line %d)\n", path, je.text, je.line);
    exit(1);
  }
  return j;
}

/* The stem of a file name: "sample1.ppm" and "sample1.jpg" give "sample1". */
static void stem(const char *s, char *out, size_t size) {
  const char *b = strrchr(s, '/');
  snprintf(out, size, "%s", b ? b + 1 : s);
  char *dot = strrchr(out, '.');
  if (dot) *dot = '\0';
}

/* Prints v with `digits` decimals and a suffix, or "-" for a missing figure. */
static void cell(int digits, const char *suffix, double v) {
  char b[32];
  if (isnan(v) || isinf(v))
    snprintf(b, sizeof b, "-");
  else
    snprintf(b, sizeof b, "%.*f%s", digits, v, suffix);
  printf(" %12s", b);
}

/* One line of a table: our wall time, the reference's, their ratio, and our
 * CPU time (what the wall time would be on an idle core). */
static void row(const char *what, double ours, double ref, double ours_cpu, const char *note) {
  printf("%-50s", what);
  cell(2, "", ours);
  cell(2, "", ref);
  cell(2, "x", ref / ours);
  cell(2, "", ours_cpu);
  printf("  %s\n", note);
}

/* The same without the CPU column. */
static void row4(const char *what, double ours, double ref) {
  printf("%-50s", what);
  cell(2, "", ours);
  cell(2, "", ref);
  cell(2, "x", ref / ours);
  printf("\n");
}

static void header(const char *what, const char *ratio) {
  printf("%-50s %12s %12s %12s %12s\n", what, "custos", "reference", ratio, "custos CPU");
}

/* The reference's --time lines of one run, matched to our photos by file
 * stem, and their aggregates (NAN unless every photo has its line). */
typedef struct ref_figs {
  json_t *line[MAX_PHOTOS];
  double ssd, img, desc, lm, fps; /* ms; faces per second */
} ref_figs;

static void ref_load(const char *path, const json_t *photos, size_t nph, ref_figs *r) {
  memset(r, 0, sizeof *r);
  r->ssd = r->img = r->desc = r->lm = r->fps = NAN;
  FILE *rf = path ? fopen(path, "r") : NULL;
  if (rf == NULL) return;
  char line[4096];
  while (fgets(line, sizeof line, rf) != NULL) {
    json_t *j = json_loads(line, 0, NULL);
    if (!json_is_object(j)) {
      json_decref(j);
      continue;
    }
    char s1[256], s2[256];
    stem(str(j, "file"), s1, sizeof s1);
    bool used = false;
    for (size_t i = 0; i < nph && !used; i++) {
      stem(str(json_array_get(photos, i), "file"), s2, sizeof s2);
      if (strcmp(s1, s2) == 0 && r->line[i] == NULL) {
        r->line[i] = j;
        used = true;
      }
    }
    if (!used) json_decref(j);
  }
  fclose(rf);
  size_t n = 0;
  double ssd = 0, img = 0, desc = 0, lm = 0, faces = 0;
  for (size_t i = 0; i < nph; i++) {
    if (r->line[i] == NULL) continue;
    const double nf = num(r->line[i], "faces");
    n++;
    ssd += num(r->line[i], "ssd_ms");
    img += num(r->line[i], "image_ms");
    if (nf > 0) {
      desc += num(r->line[i], "descriptor_ms_per_face") * nf;
      lm += num(r->line[i], "landmarks_ms_per_face") * nf;
      faces += nf;
    }
  }
  if (n != nph || n == 0) return;
  r->ssd = ssd / (double)n;
  r->img = img / (double)n;
  r->fps = faces / (img / 1e3);
  if (faces > 0) {
    r->desc = desc / faces;
    r->lm = lm / faces;
  }
}

static void ref_free(ref_figs *r) {
  for (size_t i = 0; i < MAX_PHOTOS; i++) json_decref(r->line[i]);
}

/* Reads a file written by the rss mode; NAN for what is missing. */
static void read_rss(const char *path, double *kb, double *cpu, double *wall) {
  *kb = *cpu = *wall = NAN;
  FILE *f = fopen(path, "r");
  if (f == NULL) return;
  if (fscanf(f, "%lf %lf %lf", kb, cpu, wall) != 3) *cpu = *wall = NAN;
  fclose(f);
}

static int cmd_report(int argc, char **argv) {
  const char *ours_p = NULL, *avx2_p = NULL, *ref_p = NULL, *ref_cpu_p = NULL, *load = "";
  double rss_kb = NAN, rss2_kb = NAN, ref_rss_kb = NAN, ref_cpu = NAN, ref_wall = NAN, x, y;
  for (int a = 0; a + 1 < argc; a += 2) {
    const char *o = argv[a], *v = argv[a + 1];
    if (strcmp(o, "--ours") == 0)
      ours_p = v;
    else if (strcmp(o, "--avx2") == 0)
      avx2_p = v;
    else if (strcmp(o, "--ref") == 0)
      ref_p = v;
    else if (strcmp(o, "--ref-cpu") == 0)
      ref_cpu_p = v;
    else if (strcmp(o, "--rss") == 0)
      read_rss(v, &rss_kb, &x, &y);
    else if (strcmp(o, "--rss-2t") == 0)
      read_rss(v, &rss2_kb, &x, &y);
    else if (strcmp(o, "--ref-rss") == 0)
      read_rss(v, &ref_rss_kb, &ref_cpu, &ref_wall);
    else if (strcmp(o, "--load") == 0)
      load = v;
    else {
      fprintf(stderr, "bench_face: unknown option %s\n", o);
      return 2;
    }
  }
  if (ours_p == NULL) {
    fprintf(stderr, "usage: bench_face report --ours FILE [--avx2 FILE] --ref FILE ...\n");
    return 2;
  }
  json_t *ours = load_json(ours_p);
  json_t *avx2 = avx2_p ? load_json(avx2_p) : NULL;
  const json_t *photos = json_object_get(ours, "photos");

  const size_t nph = json_array_size(photos) < MAX_PHOTOS ? json_array_size(photos) : MAX_PHOTOS;
  ref_figs rw, rc;
  ref_load(ref_p, photos, nph, &rw);
  ref_load(ref_cpu_p, photos, nph, &rc);
  json_t **ref = rw.line;
  const double ref_ssd = rw.ssd, ref_img = rw.img, ref_desc = rw.desc, ref_lm = rw.lm;
  const double ref_fps = rw.fps;

  const double d = num(ours, "descriptor_ms"), s = num(ours, "ssd_ms"), im = num(ours, "image_ms");
  const double imd = num(ours, "image_ms_with_decode"), fps2 = num(ours, "faces_per_s_2t");
  const double fps1 = num(ours, "faces_per_s_1t"), fpsq = num(ours, "faces_per_s_2t_workers");

  printf("load average: %s\n", load);
  printf("oneDNN kernels (DNNL_MAX_CPU_ISA=%s): descriptor net: %s\n",
         str(ours, "max_cpu_isa")[0] ? str(ours, "max_cpu_isa") : "unset",
         str(ours, "impl_descriptor"));
  printf("  SSD net: %s\n\n", str(ours, "impl_ssd"));
  header("one thread, wall-time medians, ms", "ref/custos");
  row("descriptor per face (150x150 net)", d, ref_desc, num(ours, "descriptor_cpu_ms"),
      "goal <= 8 ms");
  row("landmarks per face (crop, 112x112 net)", num(ours, "landmarks_ms"), ref_lm,
      num(ours, "landmarks_cpu_ms"), "");
  row("SSD per image (pad, resize, 512x512 net, decode)", s, ref_ssd, num(ours, "ssd_cpu_ms"),
      "goal <= 90 ms");
  row("  SSD net alone at 512x512", num(ours, "ssd_net_ms"), NAN, num(ours, "ssd_net_cpu_ms"), "");
  row("per photo, decoded pixels in (like for like)", im, ref_img, num(ours, "image_cpu_ms"),
      "goal: ref/custos >= 5");
  row("per photo, JPEG decoding included", imd, ref_img, num(ours, "image_cpu_ms_with_decode"),
      "(reference excludes decoding)");
  row("  of which JPEG decoding (libjpeg-turbo)", num(ours, "decode_ms"), NAN, NAN, "");
  printf("\nthroughput, faces per second (%.0f photos x %.0f, two at a time; ref: 1 thread)\n",
         (double)nph, num(ours, "pair_reps"));
  printf("%-50s %12s %12s %12s\n", "", "custos", "reference", "custos/ref");
  printf("%-50s", "engine, 2 workers (embed_many, 2 photos)");
  cell(1, "", fps2);
  cell(1, "", ref_fps);
  cell(2, "x", fps2 / ref_fps);
  printf("\n%-50s", "engine, 1 worker (same loop)");
  cell(1, "", fps1);
  cell(1, "", ref_fps);
  cell(2, "x", fps1 / ref_fps);
  printf("\n%-50s", "2 threads x own engine, decode included");
  cell(1, "", fpsq);
  cell(1, "", ref_fps);
  cell(2, "x", fpsq / ref_fps);
  printf("\n%-50s", "CPU time per face, engine 2 workers, ms");
  cell(2, "", num(ours, "cpu_ms_per_face_2t"));
  printf("\n\npeak resident memory, MB (custos face embed on the photos; ref: reference run)\n");
  printf("%-50s", "--threads 1");
  cell(1, "", rss_kb / 1024);
  cell(1, "", ref_rss_kb / 1024);
  cell(2, "x", ref_rss_kb / rss_kb);
  printf("\n%-50s", "--threads 2");
  cell(1, "", rss2_kb / 1024);
  printf(
      "\n\nper photo (ms)        faces  custos   +decode   ref     ref/custos   ssd    ref ssd\n");
  for (size_t i = 0; i < nph; i++) {
    const json_t *p = json_array_get(photos, i);
    printf("%-20s %3.0f/%-3.0f %7.1f %8.1f %7.1f %9.2fx %8.1f %7.1f\n", str(p, "file"),
           num(p, "faces"), ref[i] ? num(ref[i], "faces") : NAN, num(p, "image_ms"),
           num(p, "image_ms_with_decode"), ref[i] ? num(ref[i], "image_ms") : NAN,
           ref[i] ? num(ref[i], "image_ms") / num(p, "image_ms") : NAN, num(p, "ssd_ms"),
           ref[i] ? num(ref[i], "ssd_ms") : NAN);
    if (ref[i] && num(ref[i], "faces") != num(p, "faces"))
      printf("  warning: face counts differ\n");
  }
  const double share = num(ours, "image_cpu_ms") / im, ref_share = ref_cpu / ref_wall;
  printf(
      "\nshare of a core obtained (CPU / wall): custos per-photo passes %.2f, reference "
      "process %.2f (V8's helper threads included)\n",
      share, isnan(ref_share) ? 0.0 : ref_share);
  const double dc = num(ours, "descriptor_cpu_ms"), sc = num(ours, "ssd_cpu_ms");
  const double ic = num(ours, "image_cpu_ms"), icd = num(ours, "image_cpu_ms_with_decode");
  if (!isnan(rc.img)) {
    printf(
        "\nCPU time of the computing thread, as on an idle core (reference: its main thread, "
        "second run)\n");
    printf("%-50s %12s %12s %12s\n", "", "custos", "reference", "ref/custos");
    row4("descriptor per face", dc, rc.desc);
    row4("landmarks per face", num(ours, "landmarks_cpu_ms"), rc.lm);
    row4("SSD per image", sc, rc.ssd);
    row4("per photo, decoded pixels in", ic, rc.img);
    row4("per photo, JPEG decoding included", icd, rc.img);
  }
  if (avx2 != NULL) {
    printf("\nwith DNNL_MAX_CPU_ISA=%s (the Zen-3 target has no AVX-512; same run)\n",
           str(avx2, "max_cpu_isa"));
    printf("  kernels: descriptor net: %s\n", str(avx2, "impl_descriptor"));
    header("", "ref/custos");
    row("descriptor per face", num(avx2, "descriptor_ms"), ref_desc, num(avx2, "descriptor_cpu_ms"),
        "goal <= 8 ms");
    row("landmarks per face", num(avx2, "landmarks_ms"), ref_lm, num(avx2, "landmarks_cpu_ms"), "");
    row("SSD per image", num(avx2, "ssd_ms"), ref_ssd, num(avx2, "ssd_cpu_ms"), "goal <= 90 ms");
    row("  SSD net alone", num(avx2, "ssd_net_ms"), NAN, num(avx2, "ssd_net_cpu_ms"), "");
    row("per photo, decoded pixels in", num(avx2, "image_ms"), ref_img, num(avx2, "image_cpu_ms"),
        "goal >= 5x");
    row("per photo, JPEG decoding included", num(avx2, "image_ms_with_decode"), ref_img,
        num(avx2, "image_cpu_ms_with_decode"), "");
    printf("%-50s", "faces/s, engine 2 workers");
    cell(1, "", num(avx2, "faces_per_s_2t"));
    cell(1, "", ref_fps);
    cell(2, "x", num(avx2, "faces_per_s_2t") / ref_fps);
    printf("\n");
  }
  printf("\n");

  json_t *o = json_object();
  jnum(o, "descriptor_ms", d, 3);
  jnum(o, "ssd_ms", s, 2);
  jnum(o, "image_ms", im, 2);
  jnum(o, "ref_descriptor_ms", ref_desc, 3);
  jnum(o, "ref_ssd_ms", ref_ssd, 2);
  jnum(o, "ref_image_ms", ref_img, 2);
  jnum(o, "faces_per_s_2t", fps2, 1);
  jnum(o, "peak_rss_mb", rss_kb / 1024, 1);
  jnum(o, "image_ms_with_decode", imd, 2);
  jnum(o, "decode_ms", num(ours, "decode_ms"), 2);
  jnum(o, "ssd_net_ms", num(ours, "ssd_net_ms"), 2);
  jnum(o, "landmarks_ms", num(ours, "landmarks_ms"), 3);
  jnum(o, "ref_landmarks_ms", ref_lm, 3);
  jnum(o, "descriptor_speedup", ref_desc / d, 2);
  jnum(o, "ssd_speedup", ref_ssd / s, 2);
  jnum(o, "image_speedup", ref_img / im, 2);
  jnum(o, "image_speedup_with_decode", ref_img / imd, 2);
  jnum(o, "descriptor_cpu_ms", num(ours, "descriptor_cpu_ms"), 3);
  jnum(o, "ssd_cpu_ms", num(ours, "ssd_cpu_ms"), 2);
  jnum(o, "image_cpu_ms", num(ours, "image_cpu_ms"), 2);
  jnum(o, "cpu_share", share, 2);
  jnum(o, "ref_cpu_share", ref_share, 2);
  if (!isnan(rc.img)) {
    jnum(o, "ref_descriptor_cpu_ms", rc.desc, 3);
    jnum(o, "ref_ssd_cpu_ms", rc.ssd, 2);
    jnum(o, "ref_image_cpu_ms", rc.img, 2);
    jnum(o, "image_speedup_cpu", rc.img / ic, 2);
  }
  jnum(o, "cpu_ms_per_face_2t", num(ours, "cpu_ms_per_face_2t"), 2);
  jnum(o, "faces_per_s_1t", fps1, 1);
  jnum(o, "faces_per_s_2t_workers", fpsq, 1);
  jnum(o, "ref_faces_per_s", ref_fps, 1);
  jnum(o, "peak_rss_2t_mb", rss2_kb / 1024, 1);
  jnum(o, "ref_peak_rss_mb", ref_rss_kb / 1024, 1);
  json_object_set_new(o, "faces", json_integer((json_int_t)num(ours, "faces")));
  json_object_set_new(o, "max_cpu_isa", json_string(str(ours, "max_cpu_isa")));
  if (avx2 != NULL) {
    jnum(o, "avx2_descriptor_ms", num(avx2, "descriptor_ms"), 3);
    jnum(o, "avx2_ssd_ms", num(avx2, "ssd_ms"), 2);
    jnum(o, "avx2_image_ms", num(avx2, "image_ms"), 2);
    jnum(o, "avx2_image_ms_with_decode", num(avx2, "image_ms_with_decode"), 2);
    jnum(o, "avx2_faces_per_s_2t", num(avx2, "faces_per_s_2t"), 1);
  }
  char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  printf("%s\n", line);
  free(line);
  json_decref(o);
  ref_free(&rw);
  ref_free(&rc);
  json_decref(ours);
  json_decref(avx2);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "measure") == 0) return cmd_measure(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "rss") == 0) return cmd_rss(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "report") == 0) return cmd_report(argc - 2, argv + 2);
  fprintf(stderr, "usage: bench_face measure|rss|report ... (see bench/face/bench_face.c)\n");
  return 2;
}
