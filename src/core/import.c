/*
 * custos import: licence holders and their photos from a CSV file, in
 * parallel, with every accepted row committed exactly once.
 *
 * The pipeline (docs/import.md has the picture):
 *
 *   workers (jobs threads)        the writer (the calling thread)
 *   -----------------------       --------------------------------------------
 *   take the next CSV record      wait for rows in file order
 *   check its fields              every batch_rows rows: one write transaction
 *   look it up (own read-only       re-check the administrator
 *     connection): present?         bring the gallery up to date
 *   read the photo, SHA-256         per row: look it up again (authoritative),
 *   decode, detect, landmarks,        write holder, sensitive fields, photo,
 *     descriptor, quality             template, compare with the gallery, open
 *     (one face engine each)          cases, append the audit entries
 *                                   commit; then write the batch's rejects
 *
 * Workers take records in file order from one CSV reader under a lock and
 * put each row in a window of slots; the writer consumes the window in
 * order, so batches commit in file order and a killed import has committed a
 * prefix of the file.  A re-run finds those rows present (the workers' look-up
 * skips the photo work for them) and continues; rows are never written
 * twice because the writer decides inside its transaction.  A row the
 * workers did not describe because it looked present or in conflict, and
 * that the writer finds otherwise (another process changed it meanwhile), is
 * described by the writer itself with an engine it opens then.
 *
 * Every check a store call would make is made on the row first (row.c), so a
 * failure inside a transaction is the database's and stops the import, the
 * batch rolled back.  Refused rows change nothing and go to the rejects file:
 * row number, line, reason, column and a message, never a value (GOV-18).
 *
 * What is recorded (GOV-20), in the transaction of the change:
 *
 *   action          actor   detail                         hashes
 *   holder.enroll   admin   record=holder:ID [count=N,     photo
 *                           reason NOT_COLLECTED_DROPPED]
 *   photo.add       admin   record=holder:ID               photo      (a renewal)
 *   dedup.open      system  record=holder:ID, case dedup-N            (possible duplicate)
 *   import.run      admin   rows, rows_failed, count,      holders_csv, policy
 *                           format, model
 *
 * where count is the number of values of not-collected columns dropped
 * (GOV-19).  import.run closes every run that finishes, even one that
 * changed nothing; distances are never logged.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/coreInt.h"
#include "core/importInt.h"
#include "util/util.h"

#define MOD "import"
#define BATCH_DEFAULT 64
#define BATCH_MAX 4096
#define FORMAT_VERSION "csv.1" /* the import file format, as the log names it */

_Static_assert(CUSTOS_SENSITIVE_FIELD_COUNT == CUSTOS__SENS_COUNT, "sensitive field count");

/* ---- names ----------------------------------------------------------------------- */

const char *custos_import_reason_name(custos_import_reason r) {
  switch (r) {
#define CUSTOS_IMPORT_REASON_NAME_(name, text) \
  case CUSTOS_IMPORT_##name:                   \
    return #name;
    CUSTOS_IMPORT_REASON_MAP(CUSTOS_IMPORT_REASON_NAME_)
#undef CUSTOS_IMPORT_REASON_NAME_
    default:
      return "?";
  }
}

const char *custos_import_reason_text(custos_import_reason r) {
  switch (r) {
#define CUSTOS_IMPORT_REASON_TEXT_(name, text) \
  case CUSTOS_IMPORT_##name:                   \
    return text;
    CUSTOS_IMPORT_REASON_MAP(CUSTOS_IMPORT_REASON_TEXT_)
#undef CUSTOS_IMPORT_REASON_TEXT_
    default:
      return "?";
  }
}

const char *custos_import_stage_name(custos_import_stage s) {
  static const char *const names[CUSTOS_IMPORT_STAGE_COUNT] = {"check", "read", "decode",
                                                               "face",  "db",   "dedup"};
  if ((int)s < 0 || s >= CUSTOS_IMPORT_STAGE_COUNT) return "?";
  return names[s];
}

const char *custos_sensitive_field_name(int i) {
  if (i < 0 || i >= CUSTOS__SENS_COUNT) return NULL;
  return custos__sensitive_field_name((custos__sensitive_field)i);
}

/* ---- the pipeline's state ------------------------------------------------------------ */

typedef enum row_outcome {
  OUT_REJECTED = 0, /* refused: rej says why */
  OUT_ENROLLED,     /* a new holder */
  OUT_RENEWAL,      /* a new photo of a holder present with the same data */
  OUT_PRESENT       /* present already, nothing written */
} row_outcome;

typedef enum pre_check {
  PRE_NONE = 0, /* the workers found nothing that spares the photo work */
  PRE_PRESENT,  /* present with the same data and this photo: not described */
  PRE_CONFLICT  /* present with different data: not described */
} pre_check;

/* One CSV record on its way through the pipeline. */
typedef struct slot {
  bool done;                 /* the workers are finished with it */
  custos__csv_record rec;    /* a copy; fields point into buf */
  char *buf;                 /* the record's values (wiped when released) */
  size_t buf_cap;            /* bytes of buf */
  bool ok;                   /* passed every check so far */
  custos__import_row row;    /* when ok: the checked fields */
  custos__import_reject rej; /* when not ok: why */
  pre_check pre;             /* what the workers' look-up found */
  bool have_sha;             /* sha is the photo file's SHA-256 */
  uint8_t sha[32];           /* of the photo file */
  bool have_face;            /* desc holds the face's descriptor */
  float desc[CUSTOS_TEMPLATE_DIM];
  row_outcome outcome; /* the writer's decision */
} slot;

/* A photo worker, or the writer when it must describe a photo itself. */
typedef struct worker {
  struct import_run *run;
  pthread_t thread;
  bool started;                            /* thread was created */
  custos_face_engine *engine;              /* opened on first use */
  custos_store *store;                     /* read-only look-ups; NULL for the writer */
  double stage[CUSTOS_IMPORT_STAGE_COUNT]; /* thread-seconds */
  int64_t photos;                          /* photos described */
} worker;

typedef struct import_run {
  custos *c;
  const custos_session *as;
  const custos_import_opts *o;
  const custos_policy *policy;
  const custos_policy_params *pp;
  custos__import_header header;
  char today[CUSTOS_DATE_LEN + 1];
  char root[PATH_MAX]; /* the photos folder, resolved */
  char model[CUSTOS_MODEL_MAX + 1];
  int jobs, batch;
  struct timespec t0;

  /* The window: slot of row seq is win[seq % nwin]. */
  pthread_mutex_t mu;
  pthread_cond_t cv_space; /* the writer released slots, or stop */
  pthread_cond_t cv_done;  /* a slot is done, or stop */
  slot *win;
  size_t nwin;
  custos__csv *csv; /* read under mu */
  bool csv_end;     /* no more records */
  int64_t next_seq; /* the next data row to take */
  int64_t base;     /* the first row not yet released by the writer */
  bool stop;        /* a fatal error: everyone stops */
  int fatal_rc;     /* the first fatal error */
  custos_err fatal_err;

  worker *workers;
  worker writer; /* the writer's own engine and timers */
  custos__dedup *dedup;
  FILE *rejects; /* the temporary rejects file */
  custos_import_summary *sum;
  custos_import_progress prog;
} import_run;

static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* Records the first fatal error and wakes everyone.  Called with mu held. */
static void fail_locked(import_run *r, int rc, const custos_err *err) {
  if (!r->stop) {
    r->stop = true;
    r->fatal_rc = rc;
    if (err != NULL) r->fatal_err = *err;
  }
  pthread_cond_broadcast(&r->cv_space);
  pthread_cond_broadcast(&r->cv_done);
}

static void fail(import_run *r, int rc, const custos_err *err) {
  pthread_mutex_lock(&r->mu);
  fail_locked(r, rc, err);
  pthread_mutex_unlock(&r->mu);
}

/* ---- describing a photo ---------------------------------------------------------------- */

/* Whether an engine error is the photo's (refuse the row) or the system's. */
static bool photo_error(int rc) {
  return rc != CUSTOS_ENOMEM && rc != CUSTOS_EINTERNAL && rc != CUSTOS_EIO;
}

/*
 * Reads the slot's photo, hashes it, decodes it and describes its one face,
 * checking the policy's quality thresholds.  A refused photo clears s->ok
 * and fills s->rej.  When pre_lookup is not NULL it is called between the
 * hash and the decoding and may settle the row (returning true) without the
 * photo work.  Returns a fatal error code or CUSTOS_OK.
 */
typedef bool (*pre_lookup_fn)(worker *w, slot *s, int *rc, custos_err *err);

static int describe(worker *w, slot *s, pre_lookup_fn pre_lookup, custos_err *err) {
  import_run *r = w->run;
  unsigned char *data = NULL;
  size_t len = 0;
  custos_image *img = NULL;
  custos_face_list *faces = NULL;
  struct timespec t;
  int rc;

  clock_gettime(CLOCK_MONOTONIC, &t);
  rc = custos__import_photo_read(r->root, s->row.photo, &data, &len, &s->rej);
  if (rc == CUSTOS_EINVAL) {
    s->ok = false;
    rc = CUSTOS_OK;
    goto out;
  }
  if (rc != CUSTOS_OK) {
    rc = custos__err(err, rc, MOD, "reading a photo: %s", custos_strerror(rc));
    goto out;
  }
  crypto_hash_sha256(s->sha, data, len);
  s->have_sha = true;
  w->stage[CUSTOS_IMPORT_STAGE_READ] += seconds_since(&t);

  if (pre_lookup != NULL) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    bool settled = pre_lookup(w, s, &rc, err);
    w->stage[CUSTOS_IMPORT_STAGE_CHECK] += seconds_since(&t);
    if (rc != CUSTOS_OK || settled) goto out;
  }

  clock_gettime(CLOCK_MONOTONIC, &t);
  custos_err ierr;
  custos_err_clear(&ierr);
  rc = custos_image_decode(data, len, NULL, &img, NULL, &ierr);
  w->stage[CUSTOS_IMPORT_STAGE_DECODE] += seconds_since(&t);
  if (rc != CUSTOS_OK) {
    if (!photo_error(rc)) {
      rc = custos__err(err, rc, MOD, "decoding a photo: %s", custos_strerror(rc));
      goto out;
    }
    /* The decoder's own message may describe the file; the code says enough. */
    custos__import_reject_set(&s->rej, CUSTOS_IMPORT_PHOTO_CORRUPT, "photo", "photo: %s",
                              custos_strerror(rc));
    s->ok = false;
    rc = CUSTOS_OK;
    goto out;
  }

  if (w->engine == NULL) {
    custos_face_options fo;
    custos_face_options_init(&fo); /* the pipeline the model version names */
    rc = custos_face_engine_open(r->o->models_dir, &fo, &w->engine, err);
    if (rc != CUSTOS_OK) goto out;
  }
  clock_gettime(CLOCK_MONOTONIC, &t);
  rc = custos_face_embed(w->engine, img, &faces, &ierr);
  w->stage[CUSTOS_IMPORT_STAGE_FACE] += seconds_since(&t);
  w->photos++;
  if (rc != CUSTOS_OK) {
    if (!photo_error(rc)) {
      rc = custos__err(err, rc, MOD, "describing a photo: %s", custos_strerror(rc));
      goto out;
    }
    custos__import_reject_set(&s->rej, CUSTOS_IMPORT_PHOTO_CORRUPT, "photo",
                              "photo: the face engine refused it (%s)", custos_strerror(rc));
    s->ok = false;
    rc = CUSTOS_OK;
    goto out;
  }
  s->ok = false;
  if (faces->count == 0) {
    custos__import_reject_set(&s->rej, CUSTOS_IMPORT_NO_FACE, "photo", "photo: no face found");
  } else if (faces->count > 1) {
    custos__import_reject_set(&s->rej, CUSTOS_IMPORT_MANY_FACES, "photo",
                              "photo: %zu faces found, a licence photo holds one", faces->count);
  } else {
    const custos_face *f = &faces->faces[0];
    if (!f->has_landmarks) {
      custos__import_reject_set(&s->rej, CUSTOS_IMPORT_NO_FACE, "photo",
                                "photo: the face could not be described");
    } else if (!(f->quality.box_size >= r->pp->probe_min_face_px)) {
      custos__import_reject_set(&s->rej, CUSTOS_IMPORT_FACE_TOO_SMALL, "photo",
                                "photo: the face is %.0f px, the policy's minimum is %.0f px",
                                f->quality.box_size, r->pp->probe_min_face_px);
    } else if (!(f->quality.sharpness >= r->pp->probe_min_sharpness)) {
      custos__import_reject_set(&s->rej, CUSTOS_IMPORT_FACE_BLURRED, "photo",
                                "photo: the face's sharpness is %.1f, the policy's minimum is %.1f",
                                f->quality.sharpness, r->pp->probe_min_sharpness);
    } else {
      memcpy(s->desc, f->descriptor, sizeof s->desc);
      s->have_face = true;
      s->ok = true;
    }
  }
  rc = CUSTOS_OK;
out:
  custos_face_list_free(faces);
  custos_image_free(img);
  if (data != NULL) sodium_memzero(data, len);
  custos__free(data);
  return rc;
}

/* ---- looking rows up --------------------------------------------------------------------- */

/* Whether stored holder h carries the same data as the row: names, date of
 * birth and every sensitive column the file has and the policy collects (an
 * empty value means absent).  The comparison of sensitive values happens in
 * the database; nothing is read back. */
static int same_data(custos_txn *t, const custos__holder *h, const custos__import_row *row,
                     bool *same, custos_err *err) {
  *same = strcmp(h->first_name, row->holder.first_name) == 0 &&
          strcmp(h->middle_name, row->holder.middle_name) == 0 &&
          strcmp(h->last_name, row->holder.last_name) == 0 && strcmp(h->dob, row->holder.dob) == 0;
  for (int f = 0; f < CUSTOS__SENS_COUNT && *same; f++) {
    if (!row->compare[f]) continue;
    bool m = false;
    int rc = custos__store_sensitive_matches(t, h->id, (custos__sensitive_field)f,
                                             row->sensitive[f], &m, err);
    if (rc != CUSTOS_OK) return rc;
    if (!m) *same = false;
  }
  return CUSTOS_OK;
}

static void set_conflict(slot *s) {
  s->ok = false;
  custos__import_reject_set(&s->rej, CUSTOS_IMPORT_CONFLICT, "license_no",
                            "license_no: already present with different data");
}

/* The workers' look-up after the hash: present with this photo? */
static bool worker_photo_lookup(worker *w, slot *s, int *rc, custos_err *err) {
  custos_txn *t = NULL;
  custos__holder h;
  custos__photo p;
  bool settled = false;
  *rc = custos__store_begin(w->store, false, &t, err);
  if (*rc != CUSTOS_OK) return false;
  *rc = custos__store_holder_find(t, s->row.holder.license_no, &h, err);
  if (*rc == CUSTOS_OK) {
    *rc = custos__store_photo_find(t, h.id, s->sha, &p, err);
    if (*rc == CUSTOS_OK) {
      s->pre = PRE_PRESENT;
      settled = true;
    }
  }
  if (*rc == CUSTOS_ENOENT) {
    custos_err_clear(err);
    *rc = CUSTOS_OK;
  }
  custos__store_rollback(t);
  sodium_memzero(&h, sizeof h);
  return settled;
}

/* The workers' look-up before the photo: a licence number present with
 * different data is a conflict whatever the photo.  Sets *present when the
 * holder is there with the same data. */
static int worker_holder_lookup(worker *w, slot *s, bool *present, custos_err *err) {
  custos_txn *t = NULL;
  custos__holder h;
  *present = false;
  int rc = custos__store_begin(w->store, false, &t, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__store_holder_find(t, s->row.holder.license_no, &h, err);
  if (rc == CUSTOS_OK) {
    bool same = false;
    rc = same_data(t, &h, &s->row, &same, err);
    if (rc == CUSTOS_OK && !same) {
      s->pre = PRE_CONFLICT;
      set_conflict(s);
    }
    *present = same;
  } else if (rc == CUSTOS_ENOENT) {
    custos_err_clear(err);
    rc = CUSTOS_OK;
  }
  custos__store_rollback(t);
  sodium_memzero(&h, sizeof h);
  return rc;
}

/* Everything the workers do for one row. */
static int work_row(worker *w, slot *s, custos_err *err) {
  import_run *r = w->run;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  s->ok = custos__import_row_check(&r->header, &s->rec, r->today, &s->row, &s->rej);
  bool present = false;
  int rc = CUSTOS_OK;
  if (s->ok) rc = worker_holder_lookup(w, s, &present, err);
  w->stage[CUSTOS_IMPORT_STAGE_CHECK] += seconds_since(&t);
  if (rc != CUSTOS_OK || !s->ok) return rc;
  return describe(w, s, present ? worker_photo_lookup : NULL, err);
}

/* Copies a record into a slot's own buffer. */
static int slot_fill(slot *s, const custos__csv_record *rec) {
  size_t need = 1;
  for (size_t i = 0; i < rec->n; i++) need += rec->len[i] + 1;
  if (need > s->buf_cap) {
    if (s->buf != NULL) sodium_memzero(s->buf, s->buf_cap);
    custos__free(s->buf);
    s->buf = custos__malloc(need);
    s->buf_cap = s->buf ? need : 0;
    if (s->buf == NULL) return CUSTOS_ENOMEM;
  }
  char *bufp = s->buf;
  memset(&s->rec, 0, sizeof s->rec);
  s->rec.n = rec->n;
  s->rec.number = rec->number;
  s->rec.line = rec->line;
  s->rec.problem = rec->problem;
  for (size_t i = 0; i < rec->n; i++) {
    memcpy(bufp, rec->field[i], rec->len[i] + 1);
    s->rec.field[i] = bufp;
    s->rec.len[i] = rec->len[i];
    bufp += rec->len[i] + 1;
  }
  return CUSTOS_OK;
}

/* Empties a slot for the next row, wiping what it held. */
static void slot_clear(slot *s) {
  if (s->buf != NULL) sodium_memzero(s->buf, s->buf_cap);
  char *buf = s->buf;
  size_t cap = s->buf_cap;
  sodium_memzero(s, sizeof *s);
  s->buf = buf;
  s->buf_cap = cap;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  import_run *r = w->run;
  custos__csv_record *rec = custos__malloc(sizeof *rec);
  custos_err err;
  custos_err_clear(&err);
  int rc = rec ? CUSTOS_OK : CUSTOS_ENOMEM;
  if (rc == CUSTOS_OK) rc = custos__store_open(r->c->url, CUSTOS__STORE_EXISTING, &w->store, &err);
  if (rc != CUSTOS_OK) {
    fail(r, rc, &err);
    custos__free(rec);
    return NULL;
  }
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (!r->stop && !r->csv_end && r->next_seq >= r->base + (int64_t)r->nwin) {
      pthread_cond_wait(&r->cv_space, &r->mu);
    }
    if (r->stop || r->csv_end) break;
    /* Records are taken in file order under the lock: parsing is cheap. */
    rc = custos__csv_next(r->csv, rec, &err);
    if (rc == CUSTOS_ENOENT) {
      r->csv_end = true;
      pthread_cond_broadcast(&r->cv_done);
      break;
    }
    if (rc != CUSTOS_OK) {
      fail_locked(r, rc, &err);
      break;
    }
    int64_t seq = r->next_seq++;
    slot *s = &r->win[seq % (int64_t)r->nwin];
    rc = slot_fill(s, rec);
    if (rc != CUSTOS_OK) {
      custos__err(&err, rc, MOD, "out of memory");
      fail_locked(r, rc, &err);
      break;
    }
    pthread_mutex_unlock(&r->mu);
    rc = work_row(w, s, &err);
    pthread_mutex_lock(&r->mu);
    if (rc != CUSTOS_OK) {
      fail_locked(r, rc, &err);
      break;
    }
    s->done = true;
    pthread_cond_broadcast(&r->cv_done);
  }
  pthread_mutex_unlock(&r->mu);
  if (rec != NULL) sodium_memzero(rec, sizeof *rec);
  custos__free(rec);
  return NULL;
}

/* ---- the writer ------------------------------------------------------------------------------ */

static int record_entry(import_run *r, custos_txn *t, custos_audit_entry *e, custos_err *err) {
  return custos__core_record(r->c, t, e, err);
}

/* Opens the cases a new template calls for and records them. */
static int open_cases(import_run *r, custos_txn *t, int64_t holder, int64_t photo, const float *v,
                      custos_err *err) {
  custos__dedup_hit hits[CUSTOS__DEDUP_MAX_HITS];
  size_t n = 0;
  struct timespec tm;
  clock_gettime(CLOCK_MONOTONIC, &tm);
  int rc = custos__dedup_check_add(r->dedup, holder, photo, v, hits, &n, err);
  r->writer.stage[CUSTOS_IMPORT_STAGE_DEDUP] += seconds_since(&tm);
  for (size_t i = 0; i < n && rc == CUSTOS_OK; i++) {
    bool exists = false;
    rc = custos__store_dedup_case_open_exists(t, hits[i].holder, holder, &exists, err);
    if (rc != CUSTOS_OK || exists) continue;
    custos__dedup_case dc = {.holder_a = hits[i].holder,
                             .holder_b = holder,
                             .photo_a = hits[i].photo,
                             .photo_b = photo,
                             .distance = hits[i].distance};
    custos__timestamp_now(dc.created);
    int64_t id = 0;
    rc = custos__store_dedup_case_add(t, &dc, &id, err);
    if (rc != CUSTOS_OK) break;
    char case_id[32], record[40];
    snprintf(case_id, sizeof case_id, "dedup-%lld", (long long)id);
    snprintf(record, sizeof record, "holder:%lld", (long long)holder);
    custos_audit_detail d[] = {{"record", record}};
    /* The system opens it; the distance is for the examiner, not the log. */
    custos_audit_entry e = {.action = "dedup.open", .case_id = case_id, .detail = d, .n_detail = 1};
    rc = record_entry(r, t, &e, err);
    if (rc == CUSTOS_OK) r->sum->dedup_cases++;
  }
  return rc;
}

/* Writes the photo and template of holder_id, compares them with the
 * gallery, and records the action. */
static int write_photo(import_run *r, custos_txn *t, slot *s, int64_t holder_id, bool new_holder,
                       custos_err *err) {
  custos__photo p;
  memset(&p, 0, sizeof p);
  p.holder_id = holder_id;
  memcpy(p.sha256, s->sha, 32);
  /* The path names where the photo came from; one too long to keep is not
   * kept (the row passed with it, it is only a label). */
  if (strlen(s->row.photo) <= CUSTOS_SOURCE_MAX) {
    snprintf(p.source, sizeof p.source, "%s", s->row.photo);
  }
  int64_t photo_id = 0;
  int rc = custos__store_photo_add(t, &p, &photo_id, err);
  if (rc == CUSTOS_OK) rc = custos__store_template_put(t, photo_id, r->model, s->desc, err);
  if (rc != CUSTOS_OK) return rc;

  char record[40], count[24];
  snprintf(record, sizeof record, "holder:%lld", (long long)holder_id);
  snprintf(count, sizeof count, "%d", s->row.dropped);
  custos_audit_detail d[] = {{"record", record}, {"count", count}};
  static const char *const dropped[] = {"NOT_COLLECTED_DROPPED"};
  custos_audit_named_hash h = {.name = "photo"};
  memcpy(h.sha256.b, s->sha, 32);
  custos_audit_entry e = {.actor = custos_session_user(r->as),
                          .action = new_holder ? "holder.enroll" : "photo.add",
                          .detail = d,
                          .n_detail = 1,
                          .hashes = &h,
                          .n_hashes = 1};
  if (new_holder && s->row.dropped > 0) {
    /* GOV-19: how many values were dropped, never which. */
    e.n_detail = 2;
    e.reasons = dropped;
    e.n_reasons = 1;
  }
  rc = record_entry(r, t, &e, err);
  /* Then the comparison with the gallery, and the cases it opens. */
  if (rc == CUSTOS_OK) rc = open_cases(r, t, holder_id, photo_id, s->desc, err);
  return rc;
}

/* Makes sure a row the writer is about to enrol has its photo described. */
static int need_face(import_run *r, slot *s, custos_err *err) {
  if (s->have_face) return CUSTOS_OK;
  /* The workers skipped it as present or in conflict, and it is neither
   * now: another process changed the holder meanwhile. */
  s->pre = PRE_NONE;
  return describe(&r->writer, s, NULL, err);
}

/* Decides and writes one row inside the batch's transaction. */
static int write_row(import_run *r, custos_txn *t, slot *s, bool *changed, custos_err *err) {
  custos__holder h;
  int rc = custos__store_holder_find(t, s->row.holder.license_no, &h, err);
  if (rc == CUSTOS_ENOENT) {
    custos_err_clear(err);
    if ((rc = need_face(r, s, err)) != CUSTOS_OK || !s->ok) goto out;
    int64_t id = 0;
    rc = custos__store_holder_add(t, &s->row.holder, &id, err);
    if (rc == CUSTOS_OK) {
      custos__sensitive_in in;
      memcpy(in.value, s->row.sensitive, sizeof in.value);
      rc = custos__store_sensitive_put(t, id, &in, err);
    }
    if (rc == CUSTOS_OK) rc = write_photo(r, t, s, id, true, err);
    if (rc == CUSTOS_OK) {
      s->outcome = OUT_ENROLLED;
      *changed = true;
    }
    goto out;
  }
  if (rc != CUSTOS_OK) goto out;
  bool same = false;
  if ((rc = same_data(t, &h, &s->row, &same, err)) != CUSTOS_OK) goto out;
  if (!same) {
    set_conflict(s);
    goto out;
  }
  if (!s->have_sha) {
    /* Skipped as a conflict that is none any more. */
    if ((rc = need_face(r, s, err)) != CUSTOS_OK || !s->ok) goto out;
  }
  custos__photo p;
  rc = custos__store_photo_find(t, h.id, s->sha, &p, err);
  if (rc == CUSTOS_OK) {
    s->outcome = OUT_PRESENT;
    goto out;
  }
  if (rc != CUSTOS_ENOENT) goto out;
  custos_err_clear(err);
  /* The same holder with a new photo: a renewal. */
  if ((rc = need_face(r, s, err)) != CUSTOS_OK || !s->ok) goto out;
  rc = write_photo(r, t, s, h.id, false, err);
  if (rc == CUSTOS_OK) {
    s->outcome = OUT_RENEWAL;
    *changed = true;
  }
out:
  sodium_memzero(&h, sizeof h);
  return rc;
}

/* Writes a field of the rejects file, quoted as RFC 4180 says. */
static void csv_put(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* Counts a decided row and writes it to the rejects file when refused. */
static void tally(import_run *r, slot *s) {
  custos_import_summary *sum = r->sum;
  if (!s->ok) {
    s->outcome = OUT_REJECTED;
    sum->rejected++;
    if ((int)s->rej.reason >= 0 && s->rej.reason < CUSTOS_IMPORT_REASON_COUNT) {
      sum->rejected_by[s->rej.reason]++;
    }
    /* GOV-18: row, line, reason, column, message; never a value. */
    fprintf(r->rejects, "%lld,%lld,%s,", (long long)s->rec.number, (long long)s->rec.line,
            custos_import_reason_name(s->rej.reason));
    csv_put(r->rejects, s->rej.column);
    fputc(',', r->rejects);
    csv_put(r->rejects, s->rej.message);
    fputc('\n', r->rejects);
    return;
  }
  switch (s->outcome) {
    case OUT_ENROLLED:
      sum->accepted++;
      break;
    case OUT_RENEWAL:
      sum->renewals++;
      break;
    case OUT_PRESENT:
      sum->already_present++;
      break;
    case OUT_REJECTED:
      assert(!"a row passed without an outcome");
      break;
  }
  /* GOV-19: the drops of rows that were written are the ones that happened. */
  if (s->outcome == OUT_ENROLLED) {
    for (int c = CUSTOS__COL_SENSITIVE; c < CUSTOS__COL_COUNT; c++) {
      int pos = r->header.pos[c];
      if (r->header.dropped[c] && pos >= 0 && s->rec.len[pos] > 0) {
        sum->not_collected_by[c - CUSTOS__COL_SENSITIVE]++;
        sum->not_collected++;
      }
    }
  }
}

static void progress(import_run *r, int64_t pending) {
  if (r->o->progress == NULL) return;
  custos_import_summary *sum = r->sum;
  r->prog.rows_done =
      sum->accepted + sum->renewals + sum->already_present + sum->rejected + pending;
  r->prog.accepted = sum->accepted + sum->renewals;
  r->prog.already_present = sum->already_present;
  r->prog.rejected = sum->rejected;
  r->prog.elapsed_s = seconds_since(&r->t0);
  r->o->progress(&r->prog, r->o->progress_ctx);
}

/* One batch: one transaction for every row that passed the workers. */
static int write_batch(import_run *r, slot **batch, size_t n, custos_err *err) {
  bool any = false, changed = false;
  for (size_t i = 0; i < n; i++) any = any || batch[i]->ok;
  if (any) {
    struct timespec tm;
    clock_gettime(CLOCK_MONOTONIC, &tm);
    double dedup_before = r->writer.stage[CUSTOS_IMPORT_STAGE_DEDUP];
    double face_before = r->writer.stage[CUSTOS_IMPORT_STAGE_FACE] +
                         r->writer.stage[CUSTOS_IMPORT_STAGE_DECODE] +
                         r->writer.stage[CUSTOS_IMPORT_STAGE_READ];
    custos_txn *t = NULL;
    int rc = custos__core_begin_as(r->c, r->as, CUSTOS_ROLE_ADMIN, true, &t, err);
    if (rc != CUSTOS_OK) return rc;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    rc = custos__dedup_sync(r->dedup, t, err);
    r->writer.stage[CUSTOS_IMPORT_STAGE_DEDUP] += seconds_since(&ts);
    for (size_t i = 0; i < n && rc == CUSTOS_OK; i++) {
      if (batch[i]->ok) rc = write_row(r, t, batch[i], &changed, err);
    }
    if (rc == CUSTOS_OK && changed) rc = custos__dedup_mark(r->dedup, t, err);
    if (rc == CUSTOS_OK && changed) {
      rc = custos__store_commit(t, err);
    } else {
      custos__store_rollback(t);
    }
    if (rc != CUSTOS_OK) return rc;
    double face_now = r->writer.stage[CUSTOS_IMPORT_STAGE_FACE] +
                      r->writer.stage[CUSTOS_IMPORT_STAGE_DECODE] +
                      r->writer.stage[CUSTOS_IMPORT_STAGE_READ];
    r->writer.stage[CUSTOS_IMPORT_STAGE_DB] +=
        seconds_since(&tm) - (r->writer.stage[CUSTOS_IMPORT_STAGE_DEDUP] - dedup_before) -
        (face_now - face_before);
  }
  for (size_t i = 0; i < n; i++) tally(r, batch[i]);
  if (fflush(r->rejects) != 0) {
    return custos__err(err, CUSTOS_EIO, MOD, "writing the rejects file: %s", strerror(errno));
  }
  progress(r, 0);
  return CUSTOS_OK;
}

/* Waits for row seq; NULL when there is none (the end, or a stop: then
 * *stopped is set). */
static slot *wait_row(import_run *r, int64_t seq, bool *stopped) {
  slot *s = NULL;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    *stopped = r->stop;
    if (r->stop) break;
    if (seq < r->next_seq && r->win[seq % (int64_t)r->nwin].done) {
      s = &r->win[seq % (int64_t)r->nwin];
      break;
    }
    if (r->csv_end && seq >= r->next_seq) break;
    pthread_cond_wait(&r->cv_done, &r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  return s;
}

/* Gives the slots of rows before `upto` back to the workers. */
static void release_rows(import_run *r, int64_t upto) {
  pthread_mutex_lock(&r->mu);
  for (int64_t q = r->base; q < upto; q++) slot_clear(&r->win[q % (int64_t)r->nwin]);
  r->base = upto;
  pthread_cond_broadcast(&r->cv_space);
  pthread_mutex_unlock(&r->mu);
}

static int writer_main(import_run *r, custos_err *err) {
  slot **batch = custos__mallocarray((size_t)r->batch, sizeof *batch);
  if (batch == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  size_t n = 0;
  int64_t seq = 0;
  int rc = CUSTOS_OK;
  for (;;) {
    bool stopped = false;
    slot *s = wait_row(r, seq, &stopped);
    if (stopped) break; /* a worker failed: the import stops, its error reported */
    if (s != NULL) {
      batch[n++] = s;
      seq++;
      progress(r, (int64_t)n);
    }
    if (n > 0 && (s == NULL || n == (size_t)r->batch)) {
      rc = write_batch(r, batch, n, err);
      if (rc != CUSTOS_OK) break;
      n = 0;
      release_rows(r, seq);
    }
    if (s == NULL) break;
  }
  custos__free(batch);
  return rc;
}

/* ---- setting up ---------------------------------------------------------------------------- */

/* The rejects file's name: beside the CSV, "x.csv" -> "x.rejects.csv". */
static int rejects_name(const char *csv, const char *given, char *out, size_t cap,
                        custos_err *err) {
  int n;
  if (given != NULL && given[0] != '\0') {
    n = snprintf(out, cap, "%s", given);
  } else {
    size_t len = strlen(csv);
    if (len >= 4 && strcasecmp(csv + len - 4, ".csv") == 0) len -= 4;
    n = snprintf(out, cap, "%.*s.rejects.csv", (int)len, csv);
  }
  if (n < 0 || (size_t)n >= cap) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "the rejects file's path is too long");
  }
  return CUSTOS_OK;
}

/* Counts the data rows and hashes the file, for the progress and the log. */
static int survey_csv(const char *path, int64_t *rows, uint8_t sha[32], custos_err *err) {
  custos__csv *csv = NULL;
  custos__csv_record *rec = NULL;
  FILE *f = NULL;
  *rows = 0;
  int rc = custos__import_hash_file(path, &f, sha, err);
  if (rc != CUSTOS_OK) return rc;
  rewind(f);
  rec = custos__malloc(sizeof *rec);
  rc = rec ? custos__csv_new(f, &csv, err) : custos__err(err, CUSTOS_ENOMEM, MOD, "no memory");
  while (rc == CUSTOS_OK && (rc = custos__csv_next(csv, rec, err)) == CUSTOS_OK) (*rows)++;
  if (rc == CUSTOS_ENOENT) rc = CUSTOS_OK;
  if (*rows > 0) (*rows)--; /* the header */
  custos__csv_free(csv);
  if (rec != NULL) sodium_memzero(rec, sizeof *rec);
  custos__free(rec);
  fclose(f);
  return rc;
}

/* Records the run itself once it is over. */
static int record_run(import_run *r, const uint8_t csv_sha[32], custos_err *err) {
  custos_txn *t = NULL;
  int rc = custos__core_begin_as(r->c, r->as, CUSTOS_ROLE_ADMIN, true, &t, err);
  if (rc != CUSTOS_OK) return rc;
  custos_import_summary *sum = r->sum;
  char rows[24], failed[24], count[24];
  snprintf(rows, sizeof rows, "%lld", (long long)(sum->accepted + sum->renewals));
  snprintf(failed, sizeof failed, "%lld", (long long)sum->rejected);
  snprintf(count, sizeof count, "%lld", (long long)sum->not_collected);
  custos_audit_detail d[] = {{"count", count},
                             {"format", FORMAT_VERSION},
                             {"model", r->model},
                             {"rows", rows},
                             {"rows_failed", failed}};
  custos_audit_named_hash h[2] = {{.name = "holders_csv"}, {.name = "policy"}};
  memcpy(h[0].sha256.b, csv_sha, 32);
  size_t nh = 1;
  if (sodium_hex2bin(h[1].sha256.b, 32, custos_policy_sha256(r->policy), 64, NULL, NULL, NULL) ==
      0) {
    nh = 2;
  }
  custos_audit_entry e = {.actor = custos_session_user(r->as),
                          .action = "import.run",
                          .detail = d,
                          .n_detail = CUSTOS_ARRAY_LEN(d),
                          .hashes = h,
                          .n_hashes = nh};
  rc = record_entry(r, t, &e, err);
  if (rc == CUSTOS_OK) return custos__store_commit(t, err);
  custos__store_rollback(t);
  return rc;
}

/* Opens the CSV and reads its header. */
static int open_csv(import_run *r, FILE **f, custos_err *err) {
  custos__csv_record *rec = custos__malloc(sizeof *rec);
  if (rec == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  *f = fopen(r->o->holders_csv, "rb");
  int rc = CUSTOS_OK;
  if (*f == NULL) {
    int e = errno;
    rc = custos__err(err, e == ENOENT ? CUSTOS_ENOENT : CUSTOS_EIO, MOD, "%s: %s",
                     r->o->holders_csv, strerror(e));
  }
  if (rc == CUSTOS_OK) rc = custos__csv_new(*f, &r->csv, err);
  if (rc == CUSTOS_OK) {
    rc = custos__csv_next(r->csv, rec, err);
    if (rc == CUSTOS_ENOENT) {
      rc = custos__err(err, CUSTOS_EINVAL, MOD, "%s: the file is empty (no header row)",
                       r->o->holders_csv);
    }
  }
  if (rc == CUSTOS_OK) rc = custos__import_header_parse(rec, r->policy, &r->header, err);
  sodium_memzero(rec, sizeof *rec);
  custos__free(rec);
  return rc;
}

static int check_opts(const custos_import_opts *o, int *jobs, int *batch, custos_err *err) {
  if (o == NULL || o->holders_csv == NULL || o->holders_csv[0] == '\0') {
    return custos__err(err, CUSTOS_EINVAL, MOD, "no holders CSV file given");
  }
  if (o->photos_dir == NULL || o->photos_dir[0] == '\0') {
    return custos__err(err, CUSTOS_EINVAL, MOD, "no photos folder given");
  }
  *jobs = o->jobs;
  if (*jobs == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *jobs = cores < 1 ? 1 : cores > CUSTOS_IMPORT_MAX_JOBS ? CUSTOS_IMPORT_MAX_JOBS : (int)cores;
  }
  if (*jobs < 1 || *jobs > CUSTOS_IMPORT_MAX_JOBS) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "jobs: expected 1..%d", CUSTOS_IMPORT_MAX_JOBS);
  }
  *batch = o->batch_rows == 0 ? BATCH_DEFAULT : o->batch_rows;
  if (*batch < 1 || *batch > BATCH_MAX) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "batch_rows: expected 1..%d", BATCH_MAX);
  }
  return CUSTOS_OK;
}

int custos_import(custos *c, const custos_session *as, const custos_import_opts *o,
                  custos_import_summary *out, custos_err *err) {
  import_run *r = NULL;
  custos_policy *own_policy = NULL;
  FILE *csv_file = NULL;
  char rejects[CUSTOS_IMPORT_PATH_MAX], rejects_tmp[CUSTOS_IMPORT_PATH_MAX + 8];
  uint8_t csv_sha[32];
  int64_t rows_total = 0;
  custos_txn *t = NULL;
  bool sync_ok = false;
  int jobs = 0, batch = 0;
  int rc;

  memset(out, 0, sizeof *out);
  rejects_tmp[0] = '\0';
  if ((rc = check_opts(o, &jobs, &batch, err))) return rc;
  if (sodium_init() < 0) return custos__err(err, CUSTOS_EINTERNAL, MOD, "libsodium failed");
  /* Only an administrator imports; checked now and in every transaction. */
  if ((rc = custos__core_begin_as(c, as, CUSTOS_ROLE_ADMIN, false, &t, err))) return rc;
  custos__store_rollback(t);
  t = NULL;

  r = custos__calloc(1, sizeof *r);
  if (r == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  clock_gettime(CLOCK_MONOTONIC, &r->t0);
  r->c = c;
  r->as = as;
  r->o = o;
  r->sum = out;
  r->jobs = jobs;
  r->batch = batch;
  r->writer.run = r;
  out->jobs = jobs;
  out->batch_rows = batch;
  if (o->policy == NULL) {
    if ((rc = custos_policy_load(NULL, &own_policy, err))) goto out;
    r->policy = own_policy;
  } else {
    r->policy = o->policy;
  }
  r->pp = custos_policy_get_params(r->policy);
  custos__date_today(r->today);

  /* Everything that can refuse the whole import does so before anything is
   * written: options, the header, the folders, the models. */
  if ((rc = open_csv(r, &csv_file, err))) goto out;
  if (realpath(o->photos_dir, r->root) == NULL) {
    int e = errno;
    rc = custos__err(err, e == ENOENT ? CUSTOS_ENOENT : CUSTOS_EIO, MOD, "%s: %s", o->photos_dir,
                     strerror(e));
    goto out;
  }
  struct stat st;
  if (stat(r->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD, "%s: not a folder", o->photos_dir);
    goto out;
  }
  if ((rc = custos__import_model_version(o->models_dir, r->model, sizeof r->model, err))) goto out;
  snprintf(out->model, sizeof out->model, "%s", r->model);
  if ((rc = survey_csv(o->holders_csv, &rows_total, csv_sha, err))) goto out;
  out->rows = rows_total;
  r->prog.rows_total = rows_total;
  if ((rc = rejects_name(o->holders_csv, o->rejects_path, rejects, sizeof rejects, err))) goto out;
  snprintf(out->rejects_path, sizeof out->rejects_path, "%s", rejects);
  snprintf(rejects_tmp, sizeof rejects_tmp, "%s.tmp", rejects);
  int fd = open(rejects_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  /* A file left by someone else keeps its mode through O_TRUNC: set it. */
  if (fd >= 0 && fchmod(fd, 0600) != 0) {
    close(fd);
    fd = -1;
  }
  if (fd < 0 || (r->rejects = fdopen(fd, "w")) == NULL) {
    int e = errno;
    if (fd >= 0) close(fd);
    rejects_tmp[0] = '\0';
    rc = custos__err(err, CUSTOS_EIO, MOD, "%s: %s", rejects, strerror(e));
    goto out;
  }
  fputs("row,line,reason,column,message\n", r->rejects);

  /* The gallery, for de-duplication. */
  struct timespec td;
  clock_gettime(CLOCK_MONOTONIC, &td);
  if ((rc = custos__core_begin_as(c, as, CUSTOS_ROLE_ADMIN, false, &t, err))) goto out;
  char *snapshot = custos__core_gallery_path(c, r->model);
  rc = custos__dedup_open(t, r->model, snapshot, r->pp->dedup_threshold, &r->dedup, err);
  custos__free(snapshot);
  custos__store_rollback(t);
  t = NULL;
  r->writer.stage[CUSTOS_IMPORT_STAGE_DEDUP] += seconds_since(&td);
  if (rc != CUSTOS_OK) goto out;

  /* The window holds two batches and a few rows per worker. */
  r->nwin = (size_t)(2 * batch + 4 * jobs);
  r->win = custos__calloc(r->nwin, sizeof *r->win);
  r->workers = custos__calloc((size_t)jobs, sizeof *r->workers);
  if (r->win == NULL || r->workers == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    goto out;
  }
  if (pthread_mutex_init(&r->mu, NULL) != 0) {
    rc = custos__err(err, CUSTOS_EINTERNAL, MOD, "pthread_mutex_init failed");
    goto out;
  }
  pthread_cond_init(&r->cv_space, NULL);
  pthread_cond_init(&r->cv_done, NULL);
  sync_ok = true;
  for (int i = 0; i < jobs; i++) {
    worker *w = &r->workers[i];
    w->run = r;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      custos_err e2;
      custos__err(&e2, CUSTOS_EINTERNAL, MOD, "could not start a worker thread");
      fail(r, CUSTOS_EINTERNAL, &e2);
      break;
    }
    w->started = true;
  }
  rc = writer_main(r, err);
  if (rc != CUSTOS_OK) fail(r, rc, err);
  pthread_mutex_lock(&r->mu);
  if (r->stop) {
    /* The first failure is the one to report. */
    rc = r->fatal_rc;
    if (err != NULL) *err = r->fatal_err;
  }
  pthread_mutex_unlock(&r->mu);
  /* Make sure every worker leaves its loop, then wait for them. */
  if (rc != CUSTOS_OK) fail(r, rc, NULL);
  pthread_mutex_lock(&r->mu);
  r->csv_end = true;
  pthread_cond_broadcast(&r->cv_space);
  pthread_mutex_unlock(&r->mu);
  for (int i = 0; i < jobs; i++) {
    if (r->workers[i].started) pthread_join(r->workers[i].thread, NULL);
  }
  if (rc != CUSTOS_OK) goto out;

  /* The run is complete: the rejects file takes its place, the run is
   * recorded. */
  FILE *rf = r->rejects;
  r->rejects = NULL;
  if (fflush(rf) != 0 || fsync(fileno(rf)) != 0) {
    int e = errno;
    fclose(rf);
    rc = custos__err(err, CUSTOS_EIO, MOD, "%s: %s", rejects_tmp, strerror(e));
    goto out;
  }
  if (fclose(rf) != 0 || rename(rejects_tmp, rejects) != 0) {
    rc = custos__err(err, CUSTOS_EIO, MOD, "%s: %s", rejects, strerror(errno));
    goto out;
  }
  rejects_tmp[0] = '\0';
  rc = record_run(r, csv_sha, err);
out:
  if (r != NULL) {
    if (r->rejects != NULL) fclose(r->rejects);
    if (rejects_tmp[0] != '\0') unlink(rejects_tmp);
    for (int i = 0; r->workers != NULL && i < jobs; i++) {
      worker *w = &r->workers[i];
      for (int k = 0; k < CUSTOS_IMPORT_STAGE_COUNT; k++) out->stage_s[k] += w->stage[k];
      out->photos_processed += w->photos;
      custos_face_engine_close(w->engine);
      custos__store_close(w->store);
    }
    for (int k = 0; k < CUSTOS_IMPORT_STAGE_COUNT; k++) out->stage_s[k] += r->writer.stage[k];
    out->photos_processed += r->writer.photos;
    custos_face_engine_close(r->writer.engine);
    for (size_t i = 0; r->win != NULL && i < r->nwin; i++) {
      slot_clear(&r->win[i]);
      custos__free(r->win[i].buf);
    }
    custos__free(r->win);
    custos__free(r->workers);
    custos__dedup_free(r->dedup);
    custos__csv_free(r->csv);
    if (sync_ok) {
      pthread_cond_destroy(&r->cv_space);
      pthread_cond_destroy(&r->cv_done);
      pthread_mutex_destroy(&r->mu);
    }
    out->elapsed_s = seconds_since(&r->t0);
    custos__free(r);
  }
  if (csv_file != NULL) fclose(csv_file);
  custos_policy_free(own_policy);
  return rc;
}
