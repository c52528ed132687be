/*
 * The custos instance: opening a database, setting it up, its status, users
 * and their sessions, and the disclosure type.
 *
 * A front end opens one custos (custos_open), authenticates the person it
 * acts for (custos_login gives a custos_session) and passes that session to
 * every action; each action re-reads the user in its own transaction, so a
 * role change or a lock takes effect at once.  A custos handle is used by one
 * thread at a time.
 *
 * Passwords are hashed with Argon2id (libsodium's INTERACTIVE limits) and
 * checked in constant time.  After CUSTOS_MAX_FAILED_LOGINS consecutive
 * wrong passwords an account is locked until an administrator unlocks it.
 */
#ifndef CUSTOS_CORE_H
#define CUSTOS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custos/error.h"

/* ---- roles --------------------------------------------------------------- */

typedef enum custos_role {
  CUSTOS_ROLE_NONE = 0,     /* not a role; what a failed parse leaves */
  CUSTOS_ROLE_ADMIN = 1,    /* users, roles, training dates, policy, imports */
  CUSTOS_ROLE_INTAKE = 2,   /* registers requests, first review */
  CUSTOS_ROLE_MANAGER = 3,  /* second review */
  CUSTOS_ROLE_GOVERNOR = 4, /* governor's-office reviewer, third review */
  CUSTOS_ROLE_LEGAL = 5,    /* legal review of escalated cases (GOV-04) */
  CUSTOS_ROLE_EXAMINER = 6, /* searches and examines (trained, GOV-13) */
  CUSTOS_ROLE_AUDITOR = 7   /* reads and verifies the log, reports */
} custos_role;

/* The role's name ("admin"); "none" for anything else. */
CUSTOS_API const char *custos_role_name(custos_role r);

/* Parses a role name.  CUSTOS_EINVAL (listing the roles) when it is not one. */
CUSTOS_API int custos_role_parse(const char *s, custos_role *out, custos_err *err);

/* ---- limits and checks front ends may run before asking for passwords ------- */

#define CUSTOS_USER_NAME_MAX 64    /* bytes; [a-z][a-z0-9._-]* */
#define CUSTOS_PASSWORD_MIN 12     /* characters (UTF-8 code points) */
#define CUSTOS_PASSWORD_MAX 1024   /* bytes */
#define CUSTOS_MAX_FAILED_LOGINS 5 /* consecutive failures that lock an account */

/* A user name: 1..64 bytes of a-z, 0-9, '.', '_', '-', starting with a letter. */
CUSTOS_API int custos_user_name_check(const char *name, custos_err *err);

/* A new password: CUSTOS_PASSWORD_MIN..MAX, not the user's name. */
CUSTOS_API int custos_password_check(const char *name, const char *password, custos_err *err);

/* A real calendar date YYYY-MM-DD (years 1800..2999); field names it in errors. */
CUSTOS_API int custos_date_check(const char *date, const char *field, custos_err *err);

/* ---- the instance ------------------------------------------------------------ */

typedef struct custos custos;                 /* an open database */
typedef struct custos_session custos_session; /* an authenticated user */

typedef struct custos_init_opts {
  const char *admin_name;     /* the first administrator */
  const char *admin_password; /* their password (custos_password_check) */
  const char *policy_path;    /* policy file, or NULL; until the policy module exists
                                 only its path and SHA-256 are recorded */
} custos_init_opts;

/* Creates a new database at db_url (a SQLite path, or postgresql://...), its
 * schema and the first administrator.  Refuses an existing database
 * (CUSTOS_ECONFLICT) and changes nothing then; on any other failure the new
 * database is removed again.  Errors: CUSTOS_EINVAL (names the bad option),
 * CUSTOS_ENOENT (policy file), CUSTOS_EUNSUPPORTED (PostgreSQL, for now),
 * CUSTOS_EDB. */
CUSTOS_API int custos_init(const char *db_url, const custos_init_opts *opts, custos_err *err);

/* Opens an existing database.  A database written by a newer custos is
 * refused with CUSTOS_EVERSION; an older one is migrated forward first (each
 * step atomic).  CUSTOS_ENOENT when there is none ("run custos init").
 * On success *out is the caller's, closed with custos_close. */
CUSTOS_API int custos_open(const char *db_url, custos **out, custos_err *err);

/* Closes c; NULL-safe.  Sessions of c must be freed before. */
CUSTOS_API void custos_close(custos *c);

/* What custos status reports.  Later parts add fields. */
typedef struct custos_status {
  int64_t holders;        /* licence holders */
  int64_t photos;         /* their photos */
  int64_t templates;      /* face templates, all models */
  int64_t users;          /* staff accounts */
  int schema_version;     /* of the database */
  char backend[16];       /* "sqlite" or "postgresql" */
  char policy_sha256[65]; /* hex SHA-256 of the policy file given to init; "" none */
} custos_status;

/* Fills *out.  Needs no session: it holds counts and versions, no personal
 * data. */
CUSTOS_API int custos_get_status(custos *c, custos_status *out, custos_err *err);

/* ---- sessions -------------------------------------------------------------- */

/* Authenticates user with password.  A wrong password, an unknown user and a
 * locked account all give CUSTOS_EAUTH (the message says when an account is
 * locked); every wrong password counts towards the lock.  On success *out is
 * the caller's, freed with custos_session_free. */
CUSTOS_API int custos_login(custos *c, const char *user, const char *password, custos_session **out,
                            custos_err *err);

/* Frees a session; NULL-safe. */
CUSTOS_API void custos_session_free(custos_session *s);

/* The session's user name and role (as at login). */
CUSTOS_API const char *custos_session_user(const custos_session *s);
CUSTOS_API custos_role custos_session_role(const custos_session *s);

/* ---- users (administrators only; others get CUSTOS_EPERM) -------------------- */

typedef struct custos_user_info {
  char name[CUSTOS_USER_NAME_MAX + 1];
  custos_role role;
  char trained_until[11]; /* training certification end YYYY-MM-DD; "" none */
  int failed_logins;      /* consecutive failed logins */
  bool locked;            /* refused until unlocked */
  char created[21];       /* UTC, YYYY-MM-DDTHH:MM:SSZ */
} custos_user_info;

/* Adds a user.  trained_until may be NULL.  Errors: CUSTOS_EPERM (as is not an
 * administrator), CUSTOS_EINVAL (names the bad field), CUSTOS_ECONFLICT (the
 * name is taken). */
CUSTOS_API int custos_user_add(custos *c, const custos_session *as, const char *name,
                               custos_role role, const char *trained_until, const char *password,
                               custos_err *err);

/* Lists users in name order into a new array *out of *n entries, which the
 * caller frees with custos_user_list_free. */
CUSTOS_API int custos_user_list(custos *c, const custos_session *as, custos_user_info **out,
                                size_t *n, custos_err *err);
CUSTOS_API void custos_user_list_free(custos_user_info *list);

/* Unlocks a locked account and resets its failure count.  CUSTOS_ENOENT. */
CUSTOS_API int custos_user_unlock(custos *c, const custos_session *as, const char *name,
                                  custos_err *err);

/* Sets (YYYY-MM-DD) or clears (NULL or "") a user's training certification. */
CUSTOS_API int custos_user_set_training(custos *c, const custos_session *as, const char *name,
                                        const char *until, custos_err *err);

/* ---- disclosure (invariant 2, GOV-17) -----------------------------------------
 *
 * The only type that carries a licence holder's identity towards an agency.
 * It has exactly five fields and one constructor inside the library, which
 * the request workflow calls only for a candidate two examiners confirmed;
 * the sensitive fields of GOV-18 cannot be put in it.  Front ends read it
 * through these accessors; the strings belong to the disclosure. */
typedef struct custos_disclosure custos_disclosure;

CUSTOS_API const char *custos_disclosure_first_name(const custos_disclosure *d);
CUSTOS_API const char *custos_disclosure_middle_name(const custos_disclosure *d); /* "" none */
CUSTOS_API const char *custos_disclosure_last_name(const custos_disclosure *d);
CUSTOS_API const char *custos_disclosure_dob(const custos_disclosure *d); /* YYYY-MM-DD */
CUSTOS_API const char *custos_disclosure_license_no(const custos_disclosure *d);

/* Frees a disclosure, wiping it; NULL-safe. */
CUSTOS_API void custos_disclosure_free(custos_disclosure *d);

#endif
