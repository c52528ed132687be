/*
 * The disclosure: the only thing about a licence holder that may leave the
 * system towards an agency (invariant 2, GOV-17).
 *
 * Its definition lives in this file alone, so no other code can construct one
 * or add to it: the type is opaque everywhere else, custos__disclosure_build
 * is its one constructor and the accessors below are the only way to read
 * it.  It is built from custos__holder's ordinary fields; the sensitive
 * fields of GOV-18 are stored where no read function reaches (store.h), so
 * there is nothing they could be copied from.
 *
 * | field       | from                 | size (bytes, with NUL) |
 * |-------------|----------------------|------------------------|
 * | first_name  | holders.first_name   | 101                    |
 * | middle_name | holders.middle_name  | 101 ("" when none)     |
 * | last_name   | holders.last_name    | 101                    |
 * | dob         | holders.dob          | 11 (YYYY-MM-DD)        |
 * | license_no  | holders.license_no   | 33                     |
 */
#include <string.h>

#include "store/store.h"
#include "util/util.h"

struct custos_disclosure {
  char first_name[CUSTOS_HOLDER_NAME_MAX + 1];
  char middle_name[CUSTOS_HOLDER_NAME_MAX + 1];
  char last_name[CUSTOS_HOLDER_NAME_MAX + 1];
  char dob[CUSTOS_DATE_LEN + 1];
  char license_no[CUSTOS_LICENSE_MAX + 1];
};

/* Invariant 2: exactly these five fields.  A sixth field changes the size
 * and stops the build here. */
_Static_assert(sizeof(struct custos_disclosure) == 3 * (CUSTOS_HOLDER_NAME_MAX + 1) +
                                                       (CUSTOS_DATE_LEN + 1) +
                                                       (CUSTOS_LICENSE_MAX + 1),
               "custos_disclosure must hold exactly the five limited-identity fields");

int custos__disclosure_build(custos_txn *t, int64_t holder_id, custos_disclosure **out,
                             custos_err *err) {
  custos__holder h;
  *out = NULL;
  int rc = custos__store_holder_get(t, holder_id, &h, err);
  if (rc != CUSTOS_OK) return rc;
  custos_disclosure *d = custos__calloc(1, sizeof *d);
  if (d == NULL) {
    explicit_bzero(&h, sizeof h);
    return custos__err(err, CUSTOS_ENOMEM, "store", "out of memory");
  }
  memcpy(d->first_name, h.first_name, sizeof d->first_name);
  memcpy(d->middle_name, h.middle_name, sizeof d->middle_name);
  memcpy(d->last_name, h.last_name, sizeof d->last_name);
  memcpy(d->dob, h.dob, sizeof d->dob);
  memcpy(d->license_no, h.license_no, sizeof d->license_no);
  explicit_bzero(&h, sizeof h);
  *out = d;
  return CUSTOS_OK;
}

const char *custos_disclosure_first_name(const custos_disclosure *d) {
  return d->first_name;
}
const char *custos_disclosure_middle_name(const custos_disclosure *d) {
  return d->middle_name;
}
const char *custos_disclosure_last_name(const custos_disclosure *d) {
  return d->last_name;
}
const char *custos_disclosure_dob(const custos_disclosure *d) {
  return d->dob;
}
const char *custos_disclosure_license_no(const custos_disclosure *d) {
  return d->license_no;
}

void custos_disclosure_free(custos_disclosure *d) {
  if (d == NULL) return;
  explicit_bzero(d, sizeof *d);
  custos__free(d);
}
