/*
 * Sessions of signed-in browsers, held in memory.
 *
 * The cookie carries 256 random bits (libsodium randombytes) as base64url;
 * the table is keyed by their SHA-256, so the store holds no usable cookie.
 * Each session ends after idle_ms without a request or max_ms after sign-in,
 * whichever comes first; an expired session is ended when it is next looked
 * up, and all expired ones are swept when the table is full or a minute has
 * passed since the last sweep.  The table is a chained hash under one mutex;
 * a request holds the session it uses (refs), so a sign-out on another
 * connection never frees a session under a running handler.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpInt.h"

#define SWEEP_EVERY_MS 60000

struct http_sessions {
  pthread_mutex_t mu;   /* guards everything below and every session's refs/ended/last_ms */
  http_session **heads; /* nbuckets chains */
  size_t nbuckets;      /* a power of two */
  size_t count;         /* sessions in the table */
  size_t max;           /* sessions allowed at once */
  int64_t idle_ms;      /* idle lifetime */
  int64_t max_ms;       /* absolute lifetime */
  int64_t swept_ms;     /* time of the last sweep */
};

int http_sessions_new(size_t max, int64_t idle_ms, int64_t max_ms, http_sessions **out) {
  *out = NULL;
  http_sessions *s = calloc(1, sizeof *s);
  if (s == NULL) return CUSTOS_ENOMEM;
  s->nbuckets = 64;
  while (s->nbuckets < max && s->nbuckets < ((size_t)1 << 20)) s->nbuckets *= 2;
  s->heads = calloc(s->nbuckets, sizeof *s->heads);
  if (s->heads == NULL) {
    free(s);
    return CUSTOS_ENOMEM;
  }
  pthread_mutex_init(&s->mu, NULL);
  s->max = max;
  s->idle_ms = idle_ms;
  s->max_ms = max_ms;
  *out = s;
  return CUSTOS_OK;
}

static void session_free(http_session *x) {
  custos_session_free(x->cs);
  sodium_memzero(x, sizeof *x);
  free(x);
}

void http_sessions_free(http_sessions *s) {
  if (s == NULL) return;
  for (size_t b = 0; b < s->nbuckets; b++) {
    http_session *x = s->heads[b];
    while (x != NULL) {
      http_session *next = x->next;
      session_free(x);
      x = next;
    }
  }
  free(s->heads);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static size_t bucket_of(const http_sessions *s, const unsigned char hash[32]) {
  uint64_t h;
  memcpy(&h, hash, sizeof h);
  return (size_t)(h & (s->nbuckets - 1));
}

static bool expired(const http_sessions *s, const http_session *x, int64_t now_ms) {
  return now_ms - x->last_ms >= s->idle_ms || now_ms - x->created_ms >= s->max_ms;
}

/* Takes x out of the table (mutex held); frees it unless a request holds it. */
static void unlink_session(http_sessions *s, http_session *x) {
  http_session **p = &s->heads[bucket_of(s, x->id_hash)];
  while (*p != NULL && *p != x) p = &(*p)->next;
  if (*p == x) {
    *p = x->next;
    s->count--;
  }
  x->next = NULL;
  x->ended = true;
  if (x->refs == 0) session_free(x);
}

/* Ends every expired session (mutex held). */
static void sweep(http_sessions *s, int64_t now_ms) {
  for (size_t b = 0; b < s->nbuckets; b++) {
    http_session *x = s->heads[b];
    while (x != NULL) {
      http_session *next = x->next;
      if (expired(s, x, now_ms)) unlink_session(s, x);
      x = next;
    }
  }
  s->swept_ms = now_ms;
}

static void hash_id(const char *id, unsigned char out[32]) {
  crypto_hash_sha256(out, (const unsigned char *)id, strlen(id));
}

int http_sessions_create(http_sessions *s, custos_session *cs, unsigned slot, int64_t now_ms,
                         char id[HTTP_TOKEN_LEN + 1], http_session **out) {
  int rc = CUSTOS_OK;
  *out = NULL;
  http_session *x = calloc(1, sizeof *x);
  if (x == NULL) {
    custos_session_free(cs);
    return CUSTOS_ENOMEM;
  }
  x->cs = cs;
  x->slot = slot;
  snprintf(x->user, sizeof x->user, "%s", custos_session_user(cs));
  x->role = custos_session_role(cs);
  x->created_ms = now_ms;
  x->last_ms = now_ms;
  x->refs = 1;
  if ((rc = http_random_token(id)) != CUSTOS_OK || (rc = http_random_token(x->csrf)) != CUSTOS_OK) {
    session_free(x);
    return rc;
  }
  hash_id(id, x->id_hash);

  pthread_mutex_lock(&s->mu);
  if (s->count >= s->max || now_ms - s->swept_ms >= SWEEP_EVERY_MS) sweep(s, now_ms);
  if (s->count >= s->max) {
    rc = CUSTOS_ETOOBIG;
  } else {
    size_t b = bucket_of(s, x->id_hash);
    x->next = s->heads[b];
    s->heads[b] = x;
    s->count++;
  }
  pthread_mutex_unlock(&s->mu);
  if (rc != CUSTOS_OK) {
    sodium_memzero(id, HTTP_TOKEN_LEN + 1);
    session_free(x);
    return rc;
  }
  *out = x;
  return CUSTOS_OK;
}

http_session *http_sessions_get(http_sessions *s, const char *id, int64_t now_ms) {
  unsigned char hash[32];
  if (id == NULL || strlen(id) != HTTP_TOKEN_LEN) return NULL;
  hash_id(id, hash);
  http_session *found = NULL;
  pthread_mutex_lock(&s->mu);
  for (http_session *x = s->heads[bucket_of(s, hash)]; x != NULL; x = x->next) {
    if (sodium_memcmp(x->id_hash, hash, sizeof hash) == 0) {
      found = x;
      break;
    }
  }
  if (found != NULL && expired(s, found, now_ms)) {
    unlink_session(s, found);
    found = NULL;
  }
  if (found != NULL) {
    found->refs++;
    found->last_ms = now_ms;
  }
  pthread_mutex_unlock(&s->mu);
  return found;
}

void http_sessions_release(http_sessions *s, http_session *x) {
  if (x == NULL) return;
  pthread_mutex_lock(&s->mu);
  if (x->refs > 0) x->refs--;
  bool free_it = x->ended && x->refs == 0;
  pthread_mutex_unlock(&s->mu);
  if (free_it) session_free(x);
}

void http_sessions_end(http_sessions *s, http_session *x) {
  if (x == NULL) return;
  pthread_mutex_lock(&s->mu);
  if (!x->ended) unlink_session(s, x); /* held by the caller: not freed here */
  pthread_mutex_unlock(&s->mu);
}

size_t http_sessions_count(http_sessions *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->count;
  pthread_mutex_unlock(&s->mu);
  return n;
}

size_t http_sessions_end_user(http_sessions *s, const char *user) {
  size_t n = 0;
  pthread_mutex_lock(&s->mu);
  for (size_t b = 0; b < s->nbuckets; b++) {
    http_session *x = s->heads[b];
    while (x != NULL) {
      http_session *next = x->next;
      if (strcmp(x->user, user) == 0) {
        unlink_session(s, x);
        n++;
      }
      x = next;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return n;
}
