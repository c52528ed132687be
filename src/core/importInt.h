/*
 * The import's private parts shared by its files (docs/import.md):
 *
 *   csv.c      an RFC 4180 reader that streams records from a file
 *   row.c      the header's columns, each row's checks, the photo path
 *   dedup.c    de-duplication at enrolment over the gallery index
 *   import.c   the pipeline: workers, the single writer, rejects, summary
 *   purge.c    custos purge-field
 *
 * Nothing here ever formats a field's value into a message: every message a
 * row check writes names the column and says what is wrong with it, so that
 * a rejects file, an error and a log line cannot carry a value (GOV-18).
 */
#ifndef CUSTOS_CORE_IMPORT_INT_H
#define CUSTOS_CORE_IMPORT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "custos/core.h"
#include "custos/index.h"
#include "custos/policy.h"
#include "store/store.h"

/* ---- CSV (RFC 4180) ----------------------------------------------------------
 *
 * Fields are separated by commas and records by CRLF, LF or a lone CR.  A
 * field may be enclosed in double quotes, and then holds commas, line breaks
 * and doubled quotes ("").  A UTF-8 byte order mark at the start is skipped;
 * an empty line is not a record.  A record that breaks a rule is still read
 * to its end (leniently: a stray quote is taken as a character), so the next
 * record starts where it should, and is returned with its problem.  Values
 * are not otherwise interpreted: UTF-8 and lengths are the row checks'. */

#define CUSTOS__CSV_RECORD_MAX ((size_t)64 << 10) /* bytes of one record's values */
#define CUSTOS__CSV_FIELDS_MAX 64                 /* fields of one record */

typedef enum custos__csv_problem {
  CUSTOS__CSV_OK = 0,         /* a well-formed record */
  CUSTOS__CSV_STRAY_QUOTE,    /* a quote inside a field that does not start with one */
  CUSTOS__CSV_AFTER_QUOTE,    /* something other than a comma or a line break after a
                                 closing quote */
  CUSTOS__CSV_UNTERMINATED,   /* a quoted field still open at the end of the file */
  CUSTOS__CSV_NUL,            /* a NUL byte */
  CUSTOS__CSV_TOO_LONG,       /* more than CUSTOS__CSV_RECORD_MAX bytes */
  CUSTOS__CSV_TOO_MANY_FIELDS /* more than CUSTOS__CSV_FIELDS_MAX fields */
} custos__csv_problem;

/* One record; the strings belong to the reader and last until the next call. */
typedef struct custos__csv_record {
  size_t n;                            /* fields */
  char *field[CUSTOS__CSV_FIELDS_MAX]; /* NUL-terminated values */
  size_t len[CUSTOS__CSV_FIELDS_MAX];  /* their lengths, bytes */
  int64_t number;                      /* the record's number, the first is 1 */
  int64_t line;                        /* the line it starts on, from 1 */
  custos__csv_problem problem;         /* CUSTOS__CSV_OK or what is wrong */
} custos__csv_record;

typedef struct custos__csv custos__csv;

/* A reader of f (which the caller keeps and closes).  *out is the caller's,
 * freed with custos__csv_free.  CUSTOS_ENOMEM. */
int custos__csv_new(FILE *f, custos__csv **out, custos_err *err);

/* Wipes the buffers (they held values) and frees the reader; NULL-safe. */
void custos__csv_free(custos__csv *r);

/* Reads the next record into *rec.  CUSTOS_OK with a record (rec->problem
 * says whether it is well formed), CUSTOS_ENOENT at the end of the file,
 * CUSTOS_EIO when reading fails. */
int custos__csv_next(custos__csv *r, custos__csv_record *rec, custos_err *err);

/* A sentence for a problem: "a quote inside a field that does not start with one". */
const char *custos__csv_problem_text(custos__csv_problem p);

/* ---- columns and rows ------------------------------------------------------------- */

/* The columns an import file may have (CLI.md): six required, then the
 * sensitive fields of GOV-18 in custos__sensitive_field order. */
typedef enum custos__import_col {
  CUSTOS__COL_LICENSE_NO = 0,
  CUSTOS__COL_FIRST_NAME = 1,
  CUSTOS__COL_MIDDLE_NAME = 2,
  CUSTOS__COL_LAST_NAME = 3,
  CUSTOS__COL_DOB = 4,
  CUSTOS__COL_PHOTO = 5,
  CUSTOS__COL_SENSITIVE = 6, /* + custos__sensitive_field */
  CUSTOS__COL_COUNT = CUSTOS__COL_SENSITIVE + CUSTOS__SENS_COUNT
} custos__import_col;

#define CUSTOS__COL_REQUIRED 6 /* the columns before CUSTOS__COL_SENSITIVE */

/* A column's name as the header spells it. */
const char *custos__import_col_name(custos__import_col c);

/* Where each column stands in the file. */
typedef struct custos__import_header {
  size_t n;                        /* fields of the header, so of every row */
  int pos[CUSTOS__COL_COUNT];      /* field index of each column; -1 when absent */
  bool dropped[CUSTOS__COL_COUNT]; /* GOV-19: a sensitive column the policy does not
                                      collect */
} custos__import_header;

/* Reads the header record: every field must name a known column, once, and
 * the six required columns must all be there.  Unknown, repeated or missing
 * columns give CUSTOS_EINVAL naming the column by position (the header cell
 * is never quoted: a file without a header row has a person's data there).
 * policy says which sensitive columns are not collected (GOV-19). */
int custos__import_header_parse(const custos__csv_record *rec, const custos_policy *policy,
                                custos__import_header *h, custos_err *err);

/* Why a row was refused; a message names the column, never its value. */
typedef struct custos__import_reject {
  custos_import_reason reason; /* the reason code */
  char column[32];             /* the column at fault; "" for the row as a whole */
  char message[200];           /* one sentence without any value */
} custos__import_reject;

/* A row that passed its checks; the strings point into the CSV record. */
typedef struct custos__import_row {
  custos__holder holder;                     /* licence number, names, dob (id 0) */
  const char *photo;                         /* path relative to the photos folder */
  const char *sensitive[CUSTOS__SENS_COUNT]; /* value; NULL when absent, empty or dropped */
  bool compare[CUSTOS__SENS_COUNT];          /* the column is in the file and collected:
                                                part of "the same data" */
  int dropped;                               /* GOV-19: values of not-collected columns
                                                dropped from this row */
} custos__import_row;

/* Largest age a date of birth may give, in years (a plausible age). */
#define CUSTOS__IMPORT_MAX_AGE_YEARS 125

/* Checks a data record against the header and fills *row: the record's form
 * (MALFORMED_ROW), every field's length and text (INVALID_FIELD), the date
 * of birth (BAD_DATE: a real date, not after today, at most
 * CUSTOS__IMPORT_MAX_AGE_YEARS before it) and the photo path's form
 * (PHOTO_PATH).  today is YYYY-MM-DD.  Returns true when the row passed;
 * false with *rej filled otherwise. */
bool custos__import_row_check(const custos__import_header *h, const custos__csv_record *rec,
                              const char *today, custos__import_row *row,
                              custos__import_reject *rej);

/* Fills *rej with reason, column (may be NULL) and a printf-style message.
 * The callers pass only column names, fixed words and numbers. */
void custos__import_reject_set(custos__import_reject *rej, custos_import_reason reason,
                               const char *column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Largest photo file read, bytes. */
#define CUSTOS__IMPORT_PHOTO_MAX ((size_t)32 << 20)

/*
 * Reads the photo at rel (a path that passed the row check) under the folder
 * whose resolved path is root: resolves symbolic links and refuses a path
 * that leaves root (PHOTO_PATH), a missing file (PHOTO_MISSING), and one that
 * is not a regular file, cannot be read or is larger than
 * CUSTOS__IMPORT_PHOTO_MAX (PHOTO_UNREADABLE).  Returns CUSTOS_OK with *data
 * (the caller frees it) and *len; CUSTOS_EINVAL with *rej filled for a
 * refused photo; CUSTOS_ENOMEM.
 */
int custos__import_photo_read(const char *root, const char *rel, unsigned char **data, size_t *len,
                              custos__import_reject *rej);

/* ---- de-duplication at enrolment ------------------------------------------------------ */

/* The gallery in memory for one import: every template of one model, kept
 * in step with the store through the template generation. */
typedef struct custos__dedup custos__dedup;

/* Most other holders one new photo can open cases with. */
#define CUSTOS__DEDUP_MAX_HITS 8

/* A holder whose template is closer than the threshold. */
typedef struct custos__dedup_hit {
  int64_t holder; /* the other holder */
  int64_t photo;  /* their photo that came closest */
  double distance;
} custos__dedup_hit;

/* Loads every template of model from t into a new index (through the
 * gallery snapshot file when not NULL and current: custos__core_gallery_load).
 * threshold: the policy's dedup_threshold.  *out is the caller's
 * (custos__dedup_free). */
int custos__dedup_open(custos_txn *t, const char *model, const char *snapshot, double threshold,
                       custos__dedup **out, custos_err *err);

/* Frees the gallery; NULL-safe. */
void custos__dedup_free(custos__dedup *d);

/* Inside a write transaction, before its changes: reloads the gallery when
 * the store's template generation is not the one it was last in step with
 * (another process changed the gallery). */
int custos__dedup_sync(custos__dedup *d, custos_txn *t, custos_err *err);

/* Inside the same transaction, after its changes and before the commit:
 * records the generation the gallery is now in step with. */
int custos__dedup_mark(custos__dedup *d, custos_txn *t, custos_err *err);

/*
 * The holders other than `holder` with a template closer than the threshold
 * to v, nearest first, at most CUSTOS__DEDUP_MAX_HITS, into hits[] and *n
 * (exact search: the index's results are those of a full scan).  Then adds
 * v as the template of (holder, photo), so that later photos of the same
 * import are compared with it too.  The holder's own photos never count.
 */
int custos__dedup_check_add(custos__dedup *d, int64_t holder, int64_t photo,
                            const float v[CUSTOS_TEMPLATE_DIM], custos__dedup_hit *hits, size_t *n,
                            custos_err *err);

/* Templates in the gallery. */
size_t custos__dedup_size(const custos__dedup *d);

/* ---- the template model --------------------------------------------------------------- */

/* The model version templates of this pipeline are stored under:
 * "faceapi.<16 hex digits>.ssd.ref", the digits the start of the SHA-256 of
 * the SHA-256s of the detector, landmark and recognition weights (.bin) in
 * models_dir (NULL: the build's folder; the folder or its "model" sub-folder,
 * as the face engine finds them).  out has room for CUSTOS_MODEL_MAX + 1.
 * CUSTOS_ENOENT when a weights file is missing, CUSTOS_EIO. */
int custos__import_model_version(const char *models_dir, char *out, size_t cap, custos_err *err);

/* Opens path, reads it whole and writes its SHA-256 to sha.  With f NULL the
 * file is closed again; otherwise *f receives it, positioned at its end, and
 * the caller closes it.  Returns CUSTOS_ENOENT for a missing file,
 * CUSTOS_EIO when it cannot be opened or read (sha then unspecified). */
int custos__import_hash_file(const char *path, FILE **f, uint8_t sha[32], custos_err *err);

#endif
