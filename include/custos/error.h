/*
 * Error codes and error detail.
 *
 * Every fallible function returns CUSTOS_OK (0) or a negative CUSTOS_E... code.
 * The codes come from one table, CUSTOS_ERRNO_MAP, which also gives each code
 * its name ("CUSTOS_EIMAGE_TOO_LARGE"), its description (custos_strerror) and
 * its class: what kind of failure it is for a front end (the CLI turns the
 * class into an exit status, the HTTP server into a status code).
 *
 * Detail goes into a caller-provided custos_err: the code again, the module
 * that failed and a one-line message naming the problem (a field, a tensor, a
 * dimension).  Messages never carry the values of redacted fields.
 */
#ifndef CUSTOS_ERROR_H
#define CUSTOS_ERROR_H

#include "custos/version.h"

/* What kind of failure a code is; front ends map these to exit or HTTP status. */
typedef enum custos_err_class {
  CUSTOS_CLASS_OK = 0,        /* success */
  CUSTOS_CLASS_INTERNAL = 1,  /* a bug, the disk or the database failed */
  CUSTOS_CLASS_REFUSED = 3,   /* bad input or a policy rule */
  CUSTOS_CLASS_DENIED = 4,    /* wrong role, expired training, wrong password */
  CUSTOS_CLASS_NOT_FOUND = 5  /* the thing named does not exist */
} custos_err_class;

/* X(NAME, value, class, description) */
#define CUSTOS_ERRNO_MAP(X)                                                          \
  X(OK, 0, OK, "success")                                                            \
  X(ENOMEM, -1, INTERNAL, "out of memory")                                           \
  X(EINTERNAL, -2, INTERNAL, "internal error")                                       \
  X(EIO, -3, INTERNAL, "input/output error")                                         \
  X(EINVAL, -4, REFUSED, "invalid argument")                                         \
  X(ETOOBIG, -5, REFUSED, "size limit exceeded")                                     \
  X(ENOENT, -6, NOT_FOUND, "not found")                                              \
  X(EUNSUPPORTED, -7, REFUSED, "not supported")                                      \
  X(EIMAGE_FORMAT, -20, REFUSED, "unknown image format")                             \
  X(EIMAGE_CORRUPT, -21, REFUSED, "corrupt or truncated image")                      \
  X(EIMAGE_TOO_LARGE, -22, REFUSED, "image too large")                               \
  X(EJSON, -30, REFUSED, "malformed JSON")                                           \
  X(EMODEL, -40, REFUSED, "malformed model")                                         \
  X(EDB, -50, INTERNAL, "database failure")                                          \
  X(ECORRUPT, -51, INTERNAL, "stored data is corrupt")                               \
  X(ECONFLICT, -52, REFUSED, "conflicts with stored data")                           \
  X(EVERSION, -53, REFUSED, "incompatible version")                                  \
  X(EAUTH, -60, DENIED, "authentication failed")                                     \
  X(EPERM, -61, DENIED, "not permitted")                                             \
  X(EPOLICY, -70, REFUSED, "refused by policy")                                      \
  X(EVERIFY, -80, REFUSED, "verification failed")

typedef enum custos_errno {
#define CUSTOS_ERRNO_ENUM_(name, value, cls, text) CUSTOS_##name = (value),
  CUSTOS_ERRNO_MAP(CUSTOS_ERRNO_ENUM_)
#undef CUSTOS_ERRNO_ENUM_
} custos_errno;

#define CUSTOS_ERR_MODULE_MAX 16
#define CUSTOS_ERR_MESSAGE_MAX 320

/* Detail of a failure; filled by the function that failed. */
typedef struct custos_err {
  int code;                           /* a CUSTOS_E... code, or CUSTOS_OK */
  char module[CUSTOS_ERR_MODULE_MAX]; /* "img", "json", ...; "" when unset */
  char message[CUSTOS_ERR_MESSAGE_MAX]; /* one line, no trailing newline */
} custos_err;

/* Description of a code ("image too large"); "unknown error" for others. */
CUSTOS_API const char *custos_strerror(int code);

/* Name of a code ("CUSTOS_EIMAGE_TOO_LARGE"); "CUSTOS_E?" for others. */
CUSTOS_API const char *custos_err_name(int code);

/* Class of a code; CUSTOS_CLASS_INTERNAL for unknown codes. */
CUSTOS_API custos_err_class custos_err_class_of(int code);

/* Resets *err to "no error".  NULL-safe. */
CUSTOS_API void custos_err_clear(custos_err *err);

#endif
