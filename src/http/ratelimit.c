/*
 * Login rate limits: one token bucket per key (a client address, a user
 * name).  A bucket holds per_minute tokens and refills at per_minute per
 * minute; each attempt takes one, and an attempt that finds none is refused
 * with the seconds until the next token.
 *
 * Memory is bounded: a fixed table of `slots` buckets, found by hashing the
 * key and probing PROBE neighbours.  When all of them are taken, the least
 * recently used of the neighbours is forgotten; a forgotten key starts full
 * again, which is why the per-address and per-name limits are kept apart (a
 * flood of names from one address still empties that address's bucket).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpInt.h"

#define KEY_MAX 80 /* bytes of a key kept; longer keys are cut (names are <= 64) */
#define PROBE 8

typedef struct bucket {
  char key[KEY_MAX + 1]; /* "" when the slot is free */
  double tokens;         /* tokens left, 0..capacity */
  int64_t last_ms;       /* when tokens was last brought up to date */
} bucket;

struct http_ratelimit {
  pthread_mutex_t mu; /* guards the table */
  bucket *table;      /* slots buckets */
  size_t slots;       /* table size */
  double capacity;    /* tokens of a full bucket */
  double per_ms;      /* tokens added per ms */
};

int http_ratelimit_new(unsigned per_minute, size_t slots, http_ratelimit **out) {
  *out = NULL;
  http_ratelimit *r = calloc(1, sizeof *r);
  if (r == NULL) return CUSTOS_ENOMEM;
  if (per_minute > 0) {
    if (slots < PROBE) slots = PROBE;
    r->table = calloc(slots, sizeof *r->table);
    if (r->table == NULL) {
      free(r);
      return CUSTOS_ENOMEM;
    }
    r->slots = slots;
  }
  pthread_mutex_init(&r->mu, NULL);
  r->capacity = per_minute;
  r->per_ms = per_minute / 60000.0;
  *out = r;
  return CUSTOS_OK;
}

void http_ratelimit_free(http_ratelimit *r) {
  if (r == NULL) return;
  pthread_mutex_destroy(&r->mu);
  free(r->table);
  free(r);
}

/* FNV-1a of the key. */
static uint64_t hash_key(const char *k) {
  uint64_t h = 1469598103934665603ull;
  for (; *k; k++) h = (h ^ (unsigned char)*k) * 1099511628211ull;
  return h;
}

unsigned http_ratelimit_take(http_ratelimit *r, const char *key, int64_t now_ms) {
  if (r->table == NULL) return 0; /* no limit */
  char k[KEY_MAX + 1];
  snprintf(k, sizeof k, "%s", key);
  size_t start = (size_t)(hash_key(k) % r->slots);
  unsigned wait = 0;

  pthread_mutex_lock(&r->mu);
  bucket *b = NULL, *free_slot = NULL, *oldest = NULL;
  for (size_t i = 0; i < PROBE; i++) {
    bucket *c = &r->table[(start + i) % r->slots];
    if (c->key[0] == '\0') {
      if (free_slot == NULL) free_slot = c;
    } else if (strcmp(c->key, k) == 0) {
      b = c;
      break;
    } else if (oldest == NULL || c->last_ms < oldest->last_ms) {
      oldest = c;
    }
  }
  if (b == NULL) {
    b = free_slot != NULL ? free_slot : oldest;
    memcpy(b->key, k, sizeof k);
    b->tokens = r->capacity;
    b->last_ms = now_ms;
  }
  if (now_ms > b->last_ms) {
    b->tokens = fmin(r->capacity, b->tokens + (double)(now_ms - b->last_ms) * r->per_ms);
  }
  b->last_ms = now_ms;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
  } else {
    double secs = ceil((1.0 - b->tokens) / r->per_ms / 1000.0);
    wait = secs < 1.0 ? 1u : (unsigned)secs;
  }
  pthread_mutex_unlock(&r->mu);
  return wait;
}
