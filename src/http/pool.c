/*
 * The pool of database handles.
 *
 * A custos handle is used by one thread at a time, and a library session
 * works only with the handle it was opened on.  The pool therefore holds n
 * handles: a sign-in takes whichever handle is free, and the session it makes
 * remembers that slot for all its later requests.  Since the password check
 * runs while the handle is held, n also bounds the Argon2id computations
 * (64 MiB each) running at once.
 *
 * Fairness: under a burst of sign-ins every handle is busy and requests
 * queue.  lock_any serves them in arrival order (tickets), so no sign-in waits
 * behind later ones; a request of a session waiting for its own slot goes
 * before any sign-in (a sign-in may take any other slot instead).
 */
#include <stdlib.h>

#include "httpInt.h"

typedef struct slot {
  custos *c;       /* the open database */
  bool busy;       /* held by a request */
  unsigned wanted; /* requests waiting for this slot in particular */
} slot;

struct http_pool {
  pthread_mutex_t mu;    /* guards everything below */
  pthread_cond_t cv;     /* a slot was released */
  slot *slots;           /* n slots */
  unsigned n;            /* number of handles */
  unsigned long ticket;  /* the next lock_any ticket to hand out */
  unsigned long serving; /* the lock_any ticket whose turn it is */
};

int http_pool_open(const char *db, unsigned n, http_pool **out, custos_err *err) {
  int rc = CUSTOS_OK;
  *out = NULL;
  http_pool *p = calloc(1, sizeof *p);
  if (p == NULL || n == 0 || (p->slots = calloc(n, sizeof *p->slots)) == NULL) {
    free(p);
    return http_err_set(err, CUSTOS_ENOMEM, "out of memory for %u database handles", n);
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (unsigned i = 0; i < n; i++) {
    if ((rc = custos_open(db, &p->slots[i].c, err)) != CUSTOS_OK) break;
    p->n = i + 1;
  }
  if (rc != CUSTOS_OK) {
    http_pool_close(p);
    return rc;
  }
  *out = p;
  return CUSTOS_OK;
}

void http_pool_close(http_pool *p) {
  if (p == NULL) return;
  for (unsigned i = 0; i < p->n; i++) custos_close(p->slots[i].c);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->slots);
  free(p);
}

custos *http_pool_lock(http_pool *p, unsigned slot_no) {
  slot *s = &p->slots[slot_no];
  pthread_mutex_lock(&p->mu);
  s->wanted++;
  while (s->busy) pthread_cond_wait(&p->cv, &p->mu);
  s->wanted--;
  s->busy = true;
  pthread_mutex_unlock(&p->mu);
  return s->c;
}

/* A free slot no session request is waiting for; n when there is none. */
static unsigned free_slot(const http_pool *p) {
  for (unsigned i = 0; i < p->n; i++) {
    if (!p->slots[i].busy && p->slots[i].wanted == 0) return i;
  }
  return p->n;
}

unsigned http_pool_lock_any(http_pool *p, custos **c) {
  unsigned s = 0;
  pthread_mutex_lock(&p->mu);
  unsigned long mine = p->ticket++;
  while (mine != p->serving || (s = free_slot(p)) == p->n) pthread_cond_wait(&p->cv, &p->mu);
  p->serving++;
  p->slots[s].busy = true;
  *c = p->slots[s].c;
  pthread_cond_broadcast(&p->cv); /* the next ticket may find another free slot */
  pthread_mutex_unlock(&p->mu);
  return s;
}

void http_pool_unlock(http_pool *p, unsigned slot_no) {
  pthread_mutex_lock(&p->mu);
  p->slots[slot_no].busy = false;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}
