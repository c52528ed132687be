/*
 * An RFC 4180 CSV reader that streams records from a file, for the import.
 *
 * A byte-at-a-time state machine over a read buffer; a record's values are
 * copied into one growing buffer, each NUL-terminated, and the record points
 * into it.  The machine never gives up in the middle of a record: a record
 * that breaks a rule (a stray quote, a character after a closing quote, a
 * NUL, too many bytes or fields) is read to its end leniently and returned
 * with the first problem found, so a malformed row costs that row only and
 * the rows after it are read exactly as they would be otherwise.
 *
 *   state        byte            action
 *   FIELD_START  "               -> QUOTED
 *                ,               end an empty field
 *                LF, CR          end the record (an empty line is no record)
 *                other           append, -> UNQUOTED
 *   UNQUOTED     ,  LF  CR       end the field / record
 *                "               STRAY_QUOTE; append
 *                other           append
 *   QUOTED       "               -> QUOTE (closing or doubled)
 *                other           append (commas and line breaks included)
 *   QUOTE        "               append one quote, -> QUOTED
 *                ,  LF  CR       end the field / record
 *                other           AFTER_QUOTE; append, -> UNQUOTED
 *   after CR     LF              swallowed (CRLF is one line break)
 *
 * Values are kept as bytes; UTF-8, lengths and meaning are the row checks'.
 * The buffers held values of sensitive fields, so they are wiped when freed.
 */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "core/importInt.h"
#include "util/util.h"

#define MOD "import"
#define READ_CHUNK 65536

typedef enum csv_state { FIELD_START, UNQUOTED, QUOTED, QUOTE } csv_state;

struct custos__csv {
  FILE *f;                                  /* the file (the caller's) */
  unsigned char in[READ_CHUNK];             /* read buffer */
  size_t in_len, in_pos;                    /* bytes in it, next to take */
  bool eof;                                 /* the file is exhausted */
  bool started;                             /* the BOM check is done */
  bool after_cr;                            /* the previous byte ended a line with CR */
  char *val;                                /* the current record's values */
  size_t val_cap;                           /* allocated bytes of val */
  size_t val_len;                           /* bytes used */
  size_t start[CUSTOS__CSV_FIELDS_MAX + 1]; /* offset of each field in val */
  int64_t records;                          /* records returned */
  int64_t line;                             /* current line, from 1 */
};

int custos__csv_new(FILE *f, custos__csv **out, custos_err *err) {
  *out = NULL;
  custos__csv *r = custos__calloc(1, sizeof *r);
  if (r == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  r->f = f;
  r->line = 1;
  /* Room for the largest record, its terminators and the overflow byte. */
  r->val_cap = CUSTOS__CSV_RECORD_MAX + CUSTOS__CSV_FIELDS_MAX + 2;
  r->val = custos__malloc(r->val_cap);
  if (r->val == NULL) {
    custos__free(r);
    return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  }
  *out = r;
  return CUSTOS_OK;
}

void custos__csv_free(custos__csv *r) {
  if (r == NULL) return;
  sodium_memzero(r->val, r->val_cap);
  sodium_memzero(r->in, sizeof r->in);
  custos__free(r->val);
  custos__free(r);
}

const char *custos__csv_problem_text(custos__csv_problem p) {
  switch (p) {
    case CUSTOS__CSV_OK:
      return "well formed";
    case CUSTOS__CSV_STRAY_QUOTE:
      return "a quote inside a field that does not start with one";
    case CUSTOS__CSV_AFTER_QUOTE:
      return "a character other than a comma or a line break after a closing quote";
    case CUSTOS__CSV_UNTERMINATED:
      return "a quoted field is not closed before the end of the file";
    case CUSTOS__CSV_NUL:
      return "a NUL byte";
    case CUSTOS__CSV_TOO_LONG:
      return "the record is longer than 65536 bytes";
    case CUSTOS__CSV_TOO_MANY_FIELDS:
      return "the record has more than 64 fields";
  }
  return "malformed";
}

/* The next byte, or -1 at the end (errors in *rc). */
static int next_byte(custos__csv *r, int *rc, custos_err *err) {
  if (r->in_pos == r->in_len) {
    if (r->eof) return -1;
    r->in_len = fread(r->in, 1, sizeof r->in, r->f);
    r->in_pos = 0;
    if (r->in_len < sizeof r->in) {
      if (ferror(r->f)) {
        *rc = custos__err(err, CUSTOS_EIO, MOD, "reading the CSV file: %s", strerror(errno));
        return -1;
      }
      r->eof = true;
    }
    if (!r->started) {
      r->started = true;
      if (r->in_len >= 3 && memcmp(r->in, "\xef\xbb\xbf", 3) == 0) r->in_pos = 3;
    }
    if (r->in_pos == r->in_len) return -1;
  }
  return r->in[r->in_pos++];
}

/* First problem wins: it is the one the row is reported with. */
static void problem(custos__csv_record *rec, custos__csv_problem p) {
  if (rec->problem == CUSTOS__CSV_OK) rec->problem = p;
}

static void append(custos__csv *r, custos__csv_record *rec, int c) {
  if (c == 0) {
    problem(rec, CUSTOS__CSV_NUL);
    return;
  }
  if (r->val_len >= CUSTOS__CSV_RECORD_MAX + rec->n) {
    problem(rec, CUSTOS__CSV_TOO_LONG); /* keep reading, keep nothing */
    return;
  }
  r->val[r->val_len++] = (char)c;
}

static void end_field(custos__csv *r, custos__csv_record *rec) {
  if (rec->n >= CUSTOS__CSV_FIELDS_MAX) {
    problem(rec, CUSTOS__CSV_TOO_MANY_FIELDS);
    r->val_len = r->start[rec->n]; /* drop the extra field's bytes */
    return;
  }
  r->val[r->val_len++] = '\0';
  rec->n++;
  r->start[rec->n] = r->val_len;
}

int custos__csv_next(custos__csv *r, custos__csv_record *rec, custos_err *err) {
  int rc = CUSTOS_OK;
  csv_state st = FIELD_START;
  bool any = false; /* the record has begun (a byte other than a line break was seen) */
  memset(rec, 0, sizeof *rec);
  r->val_len = 0;
  r->start[0] = 0;
  for (;;) {
    int c = next_byte(r, &rc, err);
    if (rc != CUSTOS_OK) return rc;
    if (c < 0) {
      if (!any) return CUSTOS_ENOENT;
      if (st == QUOTED) problem(rec, CUSTOS__CSV_UNTERMINATED);
      end_field(r, rec);
      break;
    }
    if (r->after_cr) {
      r->after_cr = false;
      if (c == '\n') {
        /* CRLF: one line break, counted at the CR; inside quotes both are
         * part of the value. */
        if (st == QUOTED) append(r, rec, c);
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      if (c == '\r') r->after_cr = true;
      r->line++;
      if (st == QUOTED) {
        append(r, rec, c);
        continue;
      }
      if (!any) continue; /* an empty line is no record */
      end_field(r, rec);
      break;
    }
    if (!any) {
      any = true;
      rec->line = r->line;
    }
    switch (st) {
      case FIELD_START:
        if (c == '"') {
          st = QUOTED;
        } else if (c == ',') {
          end_field(r, rec);
        } else {
          append(r, rec, c);
          st = UNQUOTED;
        }
        break;
      case UNQUOTED:
        if (c == ',') {
          end_field(r, rec);
          st = FIELD_START;
        } else {
          if (c == '"') problem(rec, CUSTOS__CSV_STRAY_QUOTE);
          append(r, rec, c);
        }
        break;
      case QUOTED:
        if (c == '"') {
          st = QUOTE;
        } else {
          append(r, rec, c);
        }
        break;
      case QUOTE:
        if (c == '"') {
          append(r, rec, c);
          st = QUOTED;
        } else if (c == ',') {
          end_field(r, rec);
          st = FIELD_START;
        } else {
          problem(rec, CUSTOS__CSV_AFTER_QUOTE);
          append(r, rec, c);
          st = UNQUOTED;
        }
        break;
    }
  }
  for (size_t i = 0; i < rec->n; i++) {
    rec->field[i] = r->val + r->start[i];
    rec->len[i] = r->start[i + 1] - r->start[i] - 1;
  }
  rec->number = ++r->records;
  return CUSTOS_OK;
}
