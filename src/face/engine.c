/*
 * The face engine: models, a pool of worker threads each owning one built
 * network of every kind, and the pipeline image -> faces -> descriptors.
 *
 * Work is split in two stages, each a parallel loop over the pool: detection
 * (one task per image: the detector on the image, and on the padded image
 * when nothing was found), then embedding (one task per face: landmarks,
 * alignment, descriptor, quality).  A task runs entirely on one worker's
 * networks, and each worker runs oneDNN on one OpenMP thread (set once, in
 * the worker, before its networks are built), so a face's numbers do not
 * depend on which worker ran it or on how many there are.
 *
 * Detection works on a "canvas" (faceint.h): the image, or for the pad
 * fallback the image inside a black border of floor(W/2) columns left and
 * right and floor(H/2) rows top and bottom — the reference tool's padding —
 * and, when that shows no face either, borders of W and then 2W columns (H
 * and 2H rows).
 * The border is never materialised: sampling treats pixels outside the image
 * as black.  Boxes, landmarks and crops stay in canvas coordinates until the
 * results are written, then move to image coordinates.
 */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "face/faceint.h"
#include "nn/nn.h"

#define MOD "face"

#ifndef CUSTOS_MODELS_DIR
#define CUSTOS_MODELS_DIR "models"
#endif

/* The similarity alignment's template, chosen on LFW pairsDevTrain
 * (docs/face.md). */
static const face_sim_params sim_default = {1.0, 0.0};

typedef struct worker {
  struct custos_face_engine *e;
  pthread_t thread;
  bool started;
  int init_rc; /* result of building the networks */
  custos_err init_err;
  custos_nn_net *det; /* SSD or tiny detector */
  custos_nn_net *lm;  /* 68-point landmarks, 112x112 */
  custos_nn_net *rec; /* descriptor, 150x150 */
  float *det_in;      /* detector input, side x side x 3 */
  float *det_out[2];  /* detector outputs */
  float *ssd_boxes;   /* [5118][4] decoded */
  float *ssd_scores;  /* [5118] */
  size_t *sel;        /* NMS picks, max_faces */
  face_det *tiny;     /* tiny detector candidates, cells^2 * 5 */
  float *lm_in;       /* 112 x 112 x 3 */
  float lm_out[136];
  float *rec_in; /* 150 x 150 x 3 */
  float rec_out[CUSTOS_FACE_DESCRIPTOR_DIM];
} worker;

struct custos_face_engine {
  custos_face_options opts;
  char models_dir[4096]; /* the folder holding the manifests */
  custos_nn_model *m_det, *m_lm, *m_rec;
  const float *anchors; /* SSD anchors [5118][4] (owned by m_det); NULL for tiny */
  face_sim_params sim;  /* similarity template */
  int det_side;         /* detector input side, px */
  int tiny_cells;       /* tiny grid side */
  int tiny_enc;         /* tiny values per anchor */
  worker *w;
  int nw;
  /* The pool: one job (a parallel loop) at a time. */
  pthread_mutex_t mu;
  pthread_cond_t cv_work; /* a new job or stop */
  pthread_cond_t cv_done; /* a job finished, or a worker is ready */
  bool sync_ok;           /* mu and the condition variables are initialised */
  unsigned long gen;      /* job generation */
  bool stop;
  int ready; /* workers done initialising */
  void (*fn)(worker *, size_t, void *);
  void *arg;
  size_t n, next, done;
};

/* ---- options and names ---------------------------------------------------- */

void custos_face_options_init(custos_face_options *o) {
  memset(o, 0, sizeof *o);
  o->detector = CUSTOS_FACE_DETECTOR_SSD;
  o->min_score = 0.5;
  o->align = CUSTOS_FACE_ALIGN_REFERENCE;
  o->backend = CUSTOS_FACE_BACKEND_ONEDNN;
  o->threads = 1;
  o->pad_fallback = true;
  o->tiny_input_size = 416;
  o->max_faces = 100;
}

const char *custos_face_default_models_dir(void) {
  return CUSTOS_MODELS_DIR;
}

const char *custos_face_detector_name(custos_face_detector d) {
  return d == CUSTOS_FACE_DETECTOR_TINY ? "tiny" : d == CUSTOS_FACE_DETECTOR_SSD ? "ssd" : "?";
}

const char *custos_face_alignment_name(custos_face_alignment a) {
  return a == CUSTOS_FACE_ALIGN_SIMILARITY  ? "similarity"
         : a == CUSTOS_FACE_ALIGN_REFERENCE ? "reference"
                                            : "?";
}

int custos_face_detector_parse(const char *name, custos_face_detector *out) {
  if (name == NULL) return CUSTOS_EINVAL;
  if (strcmp(name, "ssd") == 0)
    *out = CUSTOS_FACE_DETECTOR_SSD;
  else if (strcmp(name, "tiny") == 0)
    *out = CUSTOS_FACE_DETECTOR_TINY;
  else
    return CUSTOS_EINVAL;
  return CUSTOS_OK;
}

int custos_face_alignment_parse(const char *name, custos_face_alignment *out) {
  if (name == NULL) return CUSTOS_EINVAL;
  if (strcmp(name, "reference") == 0)
    *out = CUSTOS_FACE_ALIGN_REFERENCE;
  else if (strcmp(name, "similarity") == 0)
    *out = CUSTOS_FACE_ALIGN_SIMILARITY;
  else
    return CUSTOS_EINVAL;
  return CUSTOS_OK;
}

static int check_options(const custos_face_options *o, custos_err *err) {
  if (o->detector != CUSTOS_FACE_DETECTOR_SSD && o->detector != CUSTOS_FACE_DETECTOR_TINY)
    return custos__err(err, CUSTOS_EINVAL, MOD, "detector: expected ssd or tiny");
  if (!(o->min_score > 0 && o->min_score < 1))
    return custos__err(err, CUSTOS_EINVAL, MOD, "min_score: expected a number in (0, 1)");
  if (o->align != CUSTOS_FACE_ALIGN_REFERENCE && o->align != CUSTOS_FACE_ALIGN_SIMILARITY)
    return custos__err(err, CUSTOS_EINVAL, MOD, "align: expected reference or similarity");
  if (o->backend != CUSTOS_FACE_BACKEND_ONEDNN && o->backend != CUSTOS_FACE_BACKEND_REFERENCE)
    return custos__err(err, CUSTOS_EINVAL, MOD, "backend: expected onednn or reference");
  if (o->threads < 1 || o->threads > CUSTOS_FACE_MAX_THREADS)
    return custos__err(err, CUSTOS_EINVAL, MOD, "threads: expected 1..%d", CUSTOS_FACE_MAX_THREADS);
  if (o->tiny_input_size < 32 || o->tiny_input_size > 1024 || o->tiny_input_size % 32 != 0)
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "tiny_input_size: expected a multiple of 32 in 32..1024");
  if (o->max_faces < 1 || o->max_faces > 1000)
    return custos__err(err, CUSTOS_EINVAL, MOD, "max_faces: expected 1..1000");
  return CUSTOS_OK;
}

/* ---- the worker pool ------------------------------------------------------ */

static int worker_build(worker *w) {
  custos_face_engine *e = w->e;
  custos_err *err = &w->init_err;
  const custos_nn_backend_kind be =
      e->opts.backend == CUSTOS_FACE_BACKEND_REFERENCE ? CUSTOS_NN_REFERENCE : CUSTOS_NN_ONEDNN;
  int rc = custos__nn_net_new(e->m_det, be, e->det_side, e->det_side, &w->det, err);
  if (rc == CUSTOS_OK)
    rc = custos__nn_net_new(e->m_lm, be, CUSTOS_FACE_LM_SIZE, CUSTOS_FACE_LM_SIZE, &w->lm, err);
  if (rc == CUSTOS_OK)
    rc = custos__nn_net_new(e->m_rec, be, CUSTOS_FACE_CHIP_SIZE, CUSTOS_FACE_CHIP_SIZE, &w->rec,
                            err);
  if (rc != CUSTOS_OK) return rc;
  /* The outputs must be what the decoding expects. */
  if (e->opts.detector == CUSTOS_FACE_DETECTOR_SSD) {
    if (custos__nn_net_outputs(w->det) != 2 ||
        custos__nn_net_output_size(w->det, 0) != (size_t)CUSTOS_FACE_SSD_ANCHORS * 4 ||
        custos__nn_net_output_size(w->det, 1) != (size_t)CUSTOS_FACE_SSD_ANCHORS * 3)
      return custos__err(err, CUSTOS_EINTERNAL, MOD, "SSD outputs have unexpected sizes");
  } else {
    const size_t cells = (size_t)e->tiny_cells;
    const size_t sz = custos__nn_net_output_size(w->det, 0);
    const size_t per = cells * cells * CUSTOS_FACE_TINY_BOXES;
    if (custos__nn_net_outputs(w->det) < 1 || sz % per != 0 || sz / per < 5 || sz / per > 64)
      return custos__err(err, CUSTOS_EINTERNAL, MOD, "tiny detector output has %zu values", sz);
    e->tiny_enc = (int)(sz / per); /* same for every worker */
  }
  if (custos__nn_net_output_size(w->lm, 0) != 136 ||
      custos__nn_net_output_size(w->rec, 0) != CUSTOS_FACE_DESCRIPTOR_DIM)
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "landmark or descriptor output size");
  const size_t side = (size_t)e->det_side;
  w->det_in = custos__mallocarray(side * side * 3, sizeof(float));
  for (int i = 0; i < custos__nn_net_outputs(w->det) && i < 2; i++)
    w->det_out[i] = custos__mallocarray(custos__nn_net_output_size(w->det, i), sizeof(float));
  w->lm_in =
      custos__mallocarray((size_t)CUSTOS_FACE_LM_SIZE * CUSTOS_FACE_LM_SIZE * 3, sizeof(float));
  w->rec_in =
      custos__mallocarray((size_t)CUSTOS_FACE_CHIP_SIZE * CUSTOS_FACE_CHIP_SIZE * 3, sizeof(float));
  bool ok = w->det_in && w->det_out[0] && w->lm_in && w->rec_in;
  if (e->opts.detector == CUSTOS_FACE_DETECTOR_SSD) {
    w->ssd_boxes = custos__mallocarray((size_t)CUSTOS_FACE_SSD_ANCHORS * 4, sizeof(float));
    w->ssd_scores = custos__mallocarray(CUSTOS_FACE_SSD_ANCHORS, sizeof(float));
    w->sel = custos__mallocarray((size_t)e->opts.max_faces, sizeof(size_t));
    ok = ok && w->det_out[1] && w->ssd_boxes && w->ssd_scores && w->sel;
  } else {
    w->tiny = custos__mallocarray(
        (size_t)e->tiny_cells * (size_t)e->tiny_cells * CUSTOS_FACE_TINY_BOXES, sizeof(face_det));
    ok = ok && w->tiny;
  }
  if (!ok) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  return CUSTOS_OK;
}

static void worker_free(worker *w) {
  custos__nn_net_free(w->det);
  custos__nn_net_free(w->lm);
  custos__nn_net_free(w->rec);
  custos__free(w->det_in);
  custos__free(w->det_out[0]);
  custos__free(w->det_out[1]);
  custos__free(w->ssd_boxes);
  custos__free(w->ssd_scores);
  custos__free(w->sel);
  custos__free(w->tiny);
  custos__free(w->lm_in);
  custos__free(w->rec_in);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  custos_face_engine *e = w->e;
  /* One OpenMP thread per worker, before any network is built: oneDNN
   * partitions its work by the thread count it sees. */
  omp_set_num_threads(1);
  custos_err_clear(&w->init_err);
  const int rc = worker_build(w);
  pthread_mutex_lock(&e->mu);
  w->init_rc = rc;
  e->ready++;
  pthread_cond_broadcast(&e->cv_done);
  unsigned long seen = e->gen;
  for (;;) {
    while (!e->stop && e->gen == seen) pthread_cond_wait(&e->cv_work, &e->mu);
    if (e->stop) break;
    seen = e->gen;
    while (e->next < e->n) {
      const size_t i = e->next++;
      pthread_mutex_unlock(&e->mu);
      e->fn(w, i, e->arg);
      pthread_mutex_lock(&e->mu);
      if (++e->done == e->n) pthread_cond_broadcast(&e->cv_done);
    }
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

/* Runs fn(worker, i, arg) for i in 0..n-1 on the pool and waits. */
static void pool_run(custos_face_engine *e, void (*fn)(worker *, size_t, void *), void *arg,
                     size_t n) {
  if (n == 0) return;
  pthread_mutex_lock(&e->mu);
  e->fn = fn;
  e->arg = arg;
  e->n = n;
  e->next = 0;
  e->done = 0;
  e->gen++;
  pthread_cond_broadcast(&e->cv_work);
  while (e->done < e->n) pthread_cond_wait(&e->cv_done, &e->mu);
  pthread_mutex_unlock(&e->mu);
}

/* ---- open and close ------------------------------------------------------- */

static bool is_file(const char *dir, const char *name) {
  char p[4200];
  if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) >= sizeof p) return false;
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The folder holding the manifests: dir itself or dir/model. */
static int resolve_models(const char *dir, char *out, size_t size, custos_err *err) {
  static const char probe[] = "face_recognition_model-weights_manifest.json";
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return custos__err(err, CUSTOS_ENOENT, MOD, "models folder %s does not exist", dir);
  }
  if (is_file(dir, probe)) {
    if ((size_t)snprintf(out, size, "%s", dir) >= size) goto toolong;
    return CUSTOS_OK;
  }
  if ((size_t)snprintf(out, size, "%s/model", dir) >= size) goto toolong;
  if (is_file(out, probe)) return CUSTOS_OK;
  return custos__err(err, CUSTOS_ENOENT, MOD,
                     "models folder %s holds no face-api models (%s, or model/%s)", dir, probe,
                     probe);
toolong:
  return custos__err(err, CUSTOS_EINVAL, MOD, "models folder path too long");
}

int custos_face_engine_open(const char *models_dir, const custos_face_options *opts,
                            custos_face_engine **out, custos_err *err) {
  if (out == NULL) return custos__err(err, CUSTOS_EINVAL, MOD, "out is NULL");
  *out = NULL;
  custos_face_options o;
  if (opts != NULL)
    o = *opts;
  else
    custos_face_options_init(&o);
  int rc = check_options(&o, err);
  if (rc != CUSTOS_OK) return rc;
  custos_face_engine *e = custos__calloc(1, sizeof *e);
  if (e == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  e->opts = o;
  e->sim = sim_default;
  rc = resolve_models(models_dir ? models_dir : custos_face_default_models_dir(), e->models_dir,
                      sizeof e->models_dir, err);
  if (rc != CUSTOS_OK) goto out;
  const bool ssd = o.detector == CUSTOS_FACE_DETECTOR_SSD;
  e->det_side = ssd ? CUSTOS_FACE_SSD_SIZE : o.tiny_input_size;
  e->tiny_cells = o.tiny_input_size / 32;
  rc = custos__nn_model_load(e->models_dir,
                             ssd ? CUSTOS_NN_SSD_MOBILENETV1 : CUSTOS_NN_TINY_FACE_DETECTOR,
                             &e->m_det, err);
  if (rc == CUSTOS_OK)
    rc = custos__nn_model_load(e->models_dir, CUSTOS_NN_FACE_LANDMARK_68, &e->m_lm, err);
  if (rc == CUSTOS_OK)
    rc = custos__nn_model_load(e->models_dir, CUSTOS_NN_FACE_RECOGNITION, &e->m_rec, err);
  if (rc == CUSTOS_OK && ssd) {
    size_t count = 0;
    if (custos__nn_model_tensor(e->m_det, "Output/extra_dim", &e->anchors, &count) != CUSTOS_OK ||
        count != (size_t)CUSTOS_FACE_SSD_ANCHORS * 4)
      rc = custos__err(err, CUSTOS_EMODEL, MOD, "SSD model: no anchors (Output/extra_dim)");
  }
  if (rc != CUSTOS_OK) goto out;

  if (pthread_mutex_init(&e->mu, NULL) != 0) {
    rc = custos__err(err, CUSTOS_EINTERNAL, MOD, "cannot create a mutex");
    goto out;
  }
  if (pthread_cond_init(&e->cv_work, NULL) != 0) {
    pthread_mutex_destroy(&e->mu);
    rc = custos__err(err, CUSTOS_EINTERNAL, MOD, "cannot create a condition variable");
    goto out;
  }
  if (pthread_cond_init(&e->cv_done, NULL) != 0) {
    pthread_cond_destroy(&e->cv_work);
    pthread_mutex_destroy(&e->mu);
    rc = custos__err(err, CUSTOS_EINTERNAL, MOD, "cannot create a condition variable");
    goto out;
  }
  e->sync_ok = true;
  e->w = custos__calloc((size_t)o.threads, sizeof *e->w);
  if (e->w == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    goto out;
  }
  int started = 0;
  for (int i = 0; i < o.threads; i++) {
    e->w[i].e = e;
    if (pthread_create(&e->w[i].thread, NULL, worker_main, &e->w[i]) != 0) {
      rc = custos__err(err, CUSTOS_EINTERNAL, MOD, "cannot start worker thread %d", i);
      break;
    }
    e->w[i].started = true;
    e->nw = i + 1;
    started++;
  }
  pthread_mutex_lock(&e->mu);
  while (e->ready < started) pthread_cond_wait(&e->cv_done, &e->mu);
  pthread_mutex_unlock(&e->mu);
  if (rc != CUSTOS_OK) goto out;
  for (int i = 0; i < e->nw; i++) {
    if (e->w[i].init_rc != CUSTOS_OK) {
      rc = e->w[i].init_rc;
      if (err != NULL) *err = e->w[i].init_err;
      goto out;
    }
  }
  *out = e;
  e = NULL;
  rc = CUSTOS_OK;
out:
  custos_face_engine_close(e);
  return rc;
}

void custos_face_engine_close(custos_face_engine *e) {
  if (e == NULL) return;
  if (e->sync_ok) {
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cv_work);
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < e->nw; i++) {
      if (e->w[i].started) pthread_join(e->w[i].thread, NULL);
    }
    pthread_cond_destroy(&e->cv_work);
    pthread_cond_destroy(&e->cv_done);
    pthread_mutex_destroy(&e->mu);
  }
  if (e->w != NULL) {
    for (int i = 0; i < e->nw; i++) worker_free(&e->w[i]);
  }
  custos__free(e->w);
  custos__nn_model_free(e->m_det);
  custos__nn_model_free(e->m_lm);
  custos__nn_model_free(e->m_rec);
  custos__free(e);
}

const custos_face_options *custos_face_engine_options(const custos_face_engine *e) {
  return e ? &e->opts : NULL;
}

/* ---- the pipeline ----------------------------------------------------------- */

/* One image of a call. */
typedef struct image_job {
  const custos_image *img;
  int rc;
  custos_err err;
  int ox, oy; /* canvas origin: canvas (x, y) is image (x - ox, y - oy) */
  int cw, ch; /* canvas size */
  bool padded;
  face_det *dets; /* detections, canvas coordinates, descending score */
  size_t ndet;
  custos_face *faces; /* ndet faces being filled (embed) */
  bool *keep;         /* face kept (embed) */
} image_job;

/* One face of a call (embed stage). */
typedef struct face_task {
  image_job *job;
  size_t k; /* index in job->dets */
  int rc;
  custos_err err;
} face_task;

typedef struct call {
  custos_face_engine *e;
  image_job *jobs;
  face_task *tasks;
} call;

/* Runs the detector on the canvas of job and stores the detections. */
static int detect_canvas(worker *w, image_job *job, custos_err *err) {
  custos_face_engine *e = w->e;
  const face_irect r = {-job->ox, -job->oy, job->cw, job->ch};
  custos__face_sample_square(job->img, r, false, e->det_side, w->det_in);
  float *const outs[2] = {w->det_out[0], w->det_out[1]};
  int rc = custos__nn_net_run(w->det, w->det_in, outs, err);
  if (rc != CUSTOS_OK) return rc;
  custos__free(job->dets);
  job->dets = NULL;
  job->ndet = 0;
  if (e->opts.detector == CUSTOS_FACE_DETECTOR_SSD) {
    custos__face_ssd_decode(e->anchors, w->det_out[0], w->det_out[1], CUSTOS_FACE_SSD_ANCHORS,
                            w->ssd_boxes, w->ssd_scores);
    const long ns = custos__face_ssd_nms(w->ssd_boxes, w->ssd_scores, CUSTOS_FACE_SSD_ANCHORS,
                                         (size_t)e->opts.max_faces, CUSTOS_FACE_SSD_IOU,
                                         e->opts.min_score, w->sel);
    if (ns < 0) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    if (ns == 0) return CUSTOS_OK;
    job->dets = custos__mallocarray((size_t)ns, sizeof *job->dets);
    if (job->dets == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    for (long k = 0; k < ns; k++) {
      const custos_face_box b =
          custos__face_ssd_box(w->ssd_boxes + 4 * w->sel[k], job->cw, job->ch, e->det_side);
      /* face-api would throw on a negative size (a box wholly outside the
       * square); such a box is no face. */
      if (!(b.width >= 0 && b.height >= 0) || !isfinite(b.x) || !isfinite(b.y)) continue;
      job->dets[job->ndet].score = w->ssd_scores[w->sel[k]];
      job->dets[job->ndet].box = b;
      job->ndet++;
    }
  } else {
    const size_t nd =
        custos__face_tiny_decode(w->det_out[0], e->tiny_cells, e->tiny_enc, e->det_side, job->cw,
                                 job->ch, e->opts.min_score, w->tiny);
    const long nk = custos__face_tiny_nms(w->tiny, nd, e->det_side, CUSTOS_FACE_TINY_IOU);
    if (nk < 0) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    if (nk == 0) return CUSTOS_OK;
    job->dets = custos__mallocarray((size_t)nk, sizeof *job->dets);
    if (job->dets == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    for (long k = 0; k < nk; k++) {
      custos_face_box b = w->tiny[k].box;
      b.x *= job->cw;
      b.width *= job->cw;
      b.y *= job->ch;
      b.height *= job->ch;
      if (!isfinite(b.x) || !isfinite(b.y) || !isfinite(b.width) || !isfinite(b.height)) continue;
      job->dets[job->ndet].score = w->tiny[k].score;
      job->dets[job->ndet].box = b;
      job->ndet++;
    }
  }
  return CUSTOS_OK;
}

/* Borders tried, in order, when the image itself shows no face: a fraction
 * of the width left and right and of the height top and bottom.  The first is
 * the reference tool's; the larger ones (the face a third, then a fifth of
 * the canvas) find nearly all the faces it misses on LFW (docs/face.md). */
static const double pad_ratios[] = {0.5, 1.0, 2.0};

static void detect_task(worker *w, size_t i, void *arg) {
  call *c = arg;
  image_job *job = &c->jobs[i];
  if (job->rc != CUSTOS_OK) return; /* refused before detection */
  const custos_image *img = job->img;
  job->ox = job->oy = 0;
  job->cw = img->width;
  job->ch = img->height;
  job->rc = detect_canvas(w, job, &job->err);
  if (job->rc != CUSTOS_OK || job->ndet > 0 || !c->e->opts.pad_fallback) return;
  for (size_t k = 0; k < CUSTOS_ARRAY_LEN(pad_ratios); k++) {
    const int px = (int)floor(img->width * pad_ratios[k]);
    const int py = (int)floor(img->height * pad_ratios[k]);
    if (px == 0 && py == 0) continue;
    job->ox = px;
    job->oy = py;
    job->cw = img->width + 2 * px;
    job->ch = img->height + 2 * py;
    job->padded = true;
    job->rc = detect_canvas(w, job, &job->err);
    if (job->rc != CUSTOS_OK || job->ndet > 0) return;
  }
  job->padded = false;
  job->ox = job->oy = 0;
  job->cw = img->width;
  job->ch = img->height;
}

static int embed_face(worker *w, image_job *job, size_t k, custos_err *err) {
  custos_face_engine *e = w->e;
  custos_face *f = &job->faces[k];
  const custos_face_box box = job->dets[k].box;
  /* Landmarks on the detection crop (extractFaceTensors of the detection). */
  const face_irect r = custos__face_clip_box(box, job->cw, job->ch);
  if (r.width <= 0 || r.height <= 0) return CUSTOS_OK; /* face-api drops it */
  const face_irect ri = {r.x - job->ox, r.y - job->oy, r.width, r.height};
  custos__face_sample_square(job->img, ri, true, CUSTOS_FACE_LM_SIZE, w->lm_in);
  float *outs[1] = {w->lm_out};
  int rc = custos__nn_net_run(w->lm, w->lm_in, outs, err);
  if (rc != CUSTOS_OK) return rc;
  double pts[CUSTOS_FACE_LANDMARKS][2];
  custos__face_landmarks_map(w->lm_out, r.width, r.height, box.x, box.y, pts);
  for (int i = 0; i < CUSTOS_FACE_LANDMARKS; i++) {
    if (!isfinite(pts[i][0]) || !isfinite(pts[i][1])) return CUSTOS_OK;
  }
  /* The reference crop (FaceLandmarks.align with dlib alignment). */
  const custos_face_box al = custos__face_align_dlib(pts, r.width, r.height);
  const face_irect ar = custos__face_clip_box(al, job->cw, job->ch);
  if (e->opts.align == CUSTOS_FACE_ALIGN_REFERENCE) {
    if (ar.width <= 0 || ar.height <= 0) return CUSTOS_OK;
    const face_irect ari = {ar.x - job->ox, ar.y - job->oy, ar.width, ar.height};
    custos__face_sample_square(job->img, ari, true, CUSTOS_FACE_CHIP_SIZE, w->rec_in);
  } else {
    double src[CUSTOS_FACE_SIM_POINTS][2], dst[CUSTOS_FACE_SIM_POINTS][2], m[6];
    custos__face_similarity_points(pts, src);
    for (int i = 0; i < CUSTOS_FACE_SIM_POINTS; i++) {
      src[i][0] -= job->ox;
      src[i][1] -= job->oy;
    }
    custos__face_sim_template(e->sim, CUSTOS_FACE_CHIP_SIZE, dst);
    if (!custos__face_similarity_fit((const double(*)[2])dst, (const double(*)[2])src,
                                     CUSTOS_FACE_SIM_POINTS, m))
      return CUSTOS_OK;
    static const uint8_t black[3] = {0, 0, 0};
    rc = custos_image_warp_f32(job->img, m, CUSTOS_FACE_CHIP_SIZE, CUSTOS_FACE_CHIP_SIZE, black,
                               w->rec_in, err);
    if (rc != CUSTOS_OK) return rc;
  }
  float *routs[1] = {w->rec_out};
  rc = custos__nn_net_run(w->rec, w->rec_in, routs, err);
  if (rc != CUSTOS_OK) return rc;
  for (int i = 0; i < CUSTOS_FACE_LANDMARKS; i++) {
    f->landmarks[i][0] = pts[i][0] - job->ox;
    f->landmarks[i][1] = pts[i][1] - job->oy;
  }
  f->aligned_box = (custos_face_box){ar.x - job->ox, ar.y - job->oy, ar.width, ar.height};
  memcpy(f->descriptor, w->rec_out, sizeof f->descriptor);
  f->quality.sharpness = custos__face_sharpness(w->rec_in, CUSTOS_FACE_CHIP_SIZE);
  f->has_landmarks = true;
  job->keep[k] = true;
  return CUSTOS_OK;
}

static void embed_task(worker *w, size_t i, void *arg) {
  call *c = arg;
  face_task *t = &c->tasks[i];
  custos_err_clear(&t->err);
  t->rc = embed_face(w, t->job, t->k, &t->err);
}

/* The face of a detection, image coordinates, without landmarks. */
static void fill_face(const image_job *job, size_t k, custos_face *f) {
  memset(f, 0, sizeof *f);
  const face_det *d = &job->dets[k];
  f->score = d->score;
  f->box = (custos_face_box){d->box.x - job->ox, d->box.y - job->oy, d->box.width, d->box.height};
  f->quality.box_size = fmin(d->box.width, d->box.height);
  f->quality.sharpness = -1;
  f->quality.score = d->score;
}

static int check_image(const custos_image *img, custos_err *err) {
  if (img == NULL || img->rgb == NULL || img->width <= 0 || img->height <= 0)
    return custos__err(err, CUSTOS_EINVAL, MOD, "image: empty or missing pixels");
  return CUSTOS_OK;
}

int custos_face_embed_many(custos_face_engine *e, const custos_image *const *imgs, size_t n,
                           bool embed, custos_face_list **outs, int *rcs, custos_err *errs) {
  if (e == NULL || (n > 0 && (imgs == NULL || outs == NULL || rcs == NULL))) return CUSTOS_EINVAL;
  int rc = CUSTOS_OK;
  call c = {e, NULL, NULL};
  for (size_t i = 0; i < n; i++) {
    outs[i] = NULL;
    rcs[i] = CUSTOS_OK;
    if (errs != NULL) custos_err_clear(&errs[i]);
  }
  if (n == 0) return CUSTOS_OK;
  c.jobs = custos__calloc(n, sizeof *c.jobs);
  if (c.jobs == NULL) {
    rc = CUSTOS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      rcs[i] = CUSTOS_ENOMEM;
      if (errs != NULL) custos__err(&errs[i], CUSTOS_ENOMEM, MOD, "out of memory");
    }
    return rc;
  }
  /* Stage 1: detection, one task per usable image. */
  size_t nvalid = 0;
  for (size_t i = 0; i < n; i++) {
    c.jobs[i].img = imgs[i];
    c.jobs[i].rc = check_image(imgs[i], &c.jobs[i].err);
    if (c.jobs[i].rc == CUSTOS_OK) nvalid++;
  }
  if (nvalid > 0) pool_run(e, detect_task, &c, n);

  /* Stage 2: landmarks and descriptors, one task per face. */
  size_t nfaces = 0;
  for (size_t i = 0; i < n; i++) {
    if (c.jobs[i].rc == CUSTOS_OK) nfaces += c.jobs[i].ndet;
  }
  if (embed && nfaces > 0) {
    c.tasks = custos__calloc(nfaces, sizeof *c.tasks);
    if (c.tasks == NULL) {
      rc = CUSTOS_ENOMEM;
      goto out;
    }
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
      image_job *job = &c.jobs[i];
      if (job->rc != CUSTOS_OK || job->ndet == 0) continue;
      job->faces = custos__calloc(job->ndet, sizeof *job->faces);
      job->keep = custos__calloc(job->ndet, sizeof *job->keep);
      if (job->faces == NULL || job->keep == NULL) {
        job->rc = custos__err(&job->err, CUSTOS_ENOMEM, MOD, "out of memory");
        continue;
      }
      for (size_t k = 0; k < job->ndet; k++) {
        fill_face(job, k, &job->faces[k]);
        c.tasks[t].job = job;
        c.tasks[t].k = k;
        t++;
      }
    }
    pool_run(e, embed_task, &c, t);
    for (size_t k = 0; k < t; k++) {
      image_job *job = c.tasks[k].job;
      if (c.tasks[k].rc != CUSTOS_OK && job->rc == CUSTOS_OK) {
        job->rc = c.tasks[k].rc;
        job->err = c.tasks[k].err;
      }
    }
  }

  /* Results. */
  for (size_t i = 0; i < n; i++) {
    image_job *job = &c.jobs[i];
    if (job->rc == CUSTOS_OK) {
      custos_face_list *l = custos__calloc(1, sizeof *l);
      if (l == NULL) {
        job->rc = custos__err(&job->err, CUSTOS_ENOMEM, MOD, "out of memory");
      } else {
        l->width = job->img->width;
        l->height = job->img->height;
        l->padded = job->padded;
        if (job->ndet > 0) {
          l->faces = custos__calloc(job->ndet, sizeof *l->faces);
          if (l->faces == NULL) {
            custos__free(l);
            l = NULL;
            job->rc = custos__err(&job->err, CUSTOS_ENOMEM, MOD, "out of memory");
          }
        }
        for (size_t k = 0; l != NULL && k < job->ndet; k++) {
          if (embed) {
            if (job->keep[k]) l->faces[l->count++] = job->faces[k];
          } else {
            fill_face(job, k, &l->faces[l->count++]);
          }
        }
        if (l != NULL && l->count == 0) {
          custos__free(l->faces);
          l->faces = NULL;
          l->padded = false;
        }
        outs[i] = l;
      }
    }
    rcs[i] = job->rc;
    if (errs != NULL) errs[i] = job->err;
    if (job->rc != CUSTOS_OK && rc == CUSTOS_OK) rc = job->rc;
  }
out:
  if (rc == CUSTOS_ENOMEM) {
    for (size_t i = 0; i < n; i++) {
      if (outs[i] == NULL && rcs[i] == CUSTOS_OK) {
        rcs[i] = CUSTOS_ENOMEM;
        if (errs != NULL) custos__err(&errs[i], CUSTOS_ENOMEM, MOD, "out of memory");
      }
    }
  }
  for (size_t i = 0; i < n; i++) {
    custos__free(c.jobs[i].dets);
    custos__free(c.jobs[i].faces);
    custos__free(c.jobs[i].keep);
  }
  custos__free(c.jobs);
  custos__free(c.tasks);
  return rc;
}

static int one(custos_face_engine *e, const custos_image *img, bool embed, custos_face_list **out,
               custos_err *err) {
  if (out == NULL) return custos__err(err, CUSTOS_EINVAL, MOD, "out is NULL");
  *out = NULL;
  if (e == NULL) return custos__err(err, CUSTOS_EINVAL, MOD, "engine is NULL");
  int rc1 = CUSTOS_OK;
  custos_err e1;
  custos_err_clear(&e1);
  const int rc = custos_face_embed_many(e, &img, 1, embed, out, &rc1, &e1);
  if (rc != CUSTOS_OK && err != NULL) *err = e1;
  return rc;
}

int custos_face_detect(custos_face_engine *e, const custos_image *img, custos_face_list **out,
                       custos_err *err) {
  return one(e, img, false, out, err);
}

int custos_face_embed(custos_face_engine *e, const custos_image *img, custos_face_list **out,
                      custos_err *err) {
  return one(e, img, true, out, err);
}

void custos_face_list_free(custos_face_list *l) {
  if (l == NULL) return;
  custos__free(l->faces);
  custos__free(l);
}

long custos_face_list_central(const custos_face_list *l) {
  if (l == NULL || l->count == 0) return -1;
  const double cx = l->width / 2.0, cy = l->height / 2.0;
  long best = -1;
  double best_d = INFINITY;
  for (size_t i = 0; i < l->count; i++) {
    const custos_face_box *b = &l->faces[i].box;
    const double d = hypot(b->x + b->width / 2 - cx, b->y + b->height / 2 - cy);
    if (d < best_d) { /* strict: among ties the earlier, higher-scored face */
      best_d = d;
      best = (long)i;
    }
  }
  return best;
}

double custos_face_distance(const float a[CUSTOS_FACE_DESCRIPTOR_DIM],
                            const float b[CUSTOS_FACE_DESCRIPTOR_DIM]) {
  double s = 0;
  for (int i = 0; i < CUSTOS_FACE_DESCRIPTOR_DIM; i++) {
    const double d = (double)a[i] - (double)b[i];
    s += d * d;
  }
  return sqrt(s);
}

void custos__face_engine_set_sim(custos_face_engine *e, face_sim_params p) {
  e->sim = p;
}

/* ---- tuning: descriptors from given landmarks -------------------------------- */

typedef struct describe_call {
  const custos_image *const *imgs;
  const double (*pts)[CUSTOS_FACE_LANDMARKS][2];
  face_sim_params p;
  float (*desc)[CUSTOS_FACE_DESCRIPTOR_DIM];
  int *rcs;
} describe_call;

static void describe_task(worker *w, size_t i, void *arg) {
  describe_call *c = arg;
  double src[CUSTOS_FACE_SIM_POINTS][2], dst[CUSTOS_FACE_SIM_POINTS][2], m[6];
  custos__face_similarity_points(c->pts[i], src);
  custos__face_sim_template(c->p, CUSTOS_FACE_CHIP_SIZE, dst);
  if (!custos__face_similarity_fit((const double(*)[2])dst, (const double(*)[2])src,
                                   CUSTOS_FACE_SIM_POINTS, m)) {
    c->rcs[i] = CUSTOS_EINVAL;
    return;
  }
  static const uint8_t black[3] = {0, 0, 0};
  int rc = custos_image_warp_f32(c->imgs[i], m, CUSTOS_FACE_CHIP_SIZE, CUSTOS_FACE_CHIP_SIZE, black,
                                 w->rec_in, NULL);
  float *routs[1] = {c->desc[i]};
  if (rc == CUSTOS_OK) rc = custos__nn_net_run(w->rec, w->rec_in, routs, NULL);
  c->rcs[i] = rc;
}

int custos__face_describe_similarity(custos_face_engine *e, size_t n,
                                     const custos_image *const *imgs,
                                     const double (*pts)[CUSTOS_FACE_LANDMARKS][2],
                                     face_sim_params p, float (*desc)[CUSTOS_FACE_DESCRIPTOR_DIM],
                                     int *rcs) {
  describe_call c = {imgs, pts, p, desc, rcs};
  pool_run(e, describe_task, &c, n);
  for (size_t i = 0; i < n; i++) {
    if (rcs[i] != CUSTOS_OK) return rcs[i];
  }
  return CUSTOS_OK;
}
