/*
 * auth: who may do what.  Roles, user names, the password policy, Argon2id
 * password hashing (libsodium), logins with failure counting and locking,
 * and the check every action makes on the user it acts for.
 *
 * Hashes are libsodium's crypto_pwhash_str strings ("$argon2id$v=19$m=...,
 * t=...,p=1$salt$hash"): each carries its own parameters, so verification
 * never depends on the parameters in force when it runs.  New hashes use
 * libsodium's INTERACTIVE limits (64 MiB, 2 passes).
 *
 * Tests only: with CUSTOS_TEST_FAST_KDF=1 in the environment, new hashes use
 * the minimum limits (8 KiB, 1 pass) so that test suites creating many users
 * stay fast.  The variable is honoured only in builds configured with
 * CUSTOS_ALLOW_TEST_KDF (a CMake option, ON by default for development;
 * release packaging turns it OFF).  A weak hash made that way is not a lasting
 * risk: the first login without the variable rehashes the password with the
 * INTERACTIVE limits.
 */
#ifndef CUSTOS_AUTH_H
#define CUSTOS_AUTH_H

#include <stdbool.h>

#include "custos/core.h"
#include "store/store.h"

/* The role of a stored user; CUSTOS_ECORRUPT when the stored name is not a role. */
int custos__auth_role_of(const custos__user *u, custos_role *out, custos_err *err);

/* Whether new hashes use the test limits (CUSTOS_TEST_FAST_KDF, see above). */
bool custos__auth_fast_kdf(void);

/* Hashes password with Argon2id into out.  CUSTOS_ENOMEM when the memory the
 * KDF needs cannot be had. */
int custos__auth_hash(const char *password, char out[CUSTOS_PWHASH_MAX + 1], custos_err *err);

/* Whether password matches hash, checked in constant time by libsodium.
 * A malformed hash or an over-long password never match. */
bool custos__auth_verify(const char *hash, const char *password);

/* Whether hash was made with other limits than new hashes get now. */
bool custos__auth_needs_rehash(const char *hash);

/* Checks a new user's fields and hashes the password into *out (ready for
 * custos__store_user_add; created is now).  trained_until NULL or "" is none.
 * Runs no transaction: hashing is slow and must not hold the write lock. */
int custos__auth_prepare_user(const char *name, custos_role role, const char *trained_until,
                              const char *password, custos__user *out, custos_err *err);

/* What a login attempt on an existing account came to (GOV-20). */
typedef enum custos__login_outcome {
  CUSTOS__LOGIN_OK = 0,             /* the password was right; the failure count is reset */
  CUSTOS__LOGIN_WRONG_PASSWORD = 1, /* counted towards the lock */
  CUSTOS__LOGIN_LOCKED_NOW = 2,     /* a wrong password that locked the account */
  CUSTOS__LOGIN_LOCKED = 3          /* refused: the account was locked already */
} custos__login_outcome;

/* Records a login attempt inside t, the transaction that stores its outcome;
 * a non-zero return rolls that back and fails the login with it.  u is the
 * account as re-read in t. */
typedef int (*custos__login_recorder)(void *ctx, custos_txn *t, const custos__user *u,
                                      custos__login_outcome outcome, custos_err *err);

/* Authenticates name with password against the store: CUSTOS_EAUTH for an
 * unknown user, a wrong password or a locked account (an unknown user costs
 * the same time as a known one).  Counts each wrong password, locking the
 * account at CUSTOS_MAX_FAILED_LOGINS; a success resets the count and
 * upgrades a hash made with weaker limits.  Every attempt on an existing
 * account is passed to rec (when not NULL) in the transaction that records
 * it; an attempt on a name that is no account changes nothing and is not
 * passed on (the name typed may be a password typed in the wrong field).
 * Fills *out with the user. */
int custos__auth_login(custos_store *s, const char *name, const char *password,
                       custos__login_recorder rec, void *rec_ctx, custos__user *out,
                       custos_err *err);

/* Inside an action's transaction: re-reads the acting user and checks that it
 * still exists, is not locked and holds role (CUSTOS_ROLE_NONE: any role).
 * CUSTOS_EPERM otherwise, naming the role needed. */
int custos__auth_require(custos_txn *t, const char *name, custos_role role, custos__user *out,
                         custos_err *err);

/* GOV-13: whether u's training certification is current on today
 * (YYYY-MM-DD): set, and not before today. */
bool custos__auth_training_current(const custos__user *u, const char *today);

#endif
