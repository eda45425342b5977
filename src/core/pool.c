/* pool.c - a fixed pool of worker threads.
 *
 * ecn_pool_run publishes a job (function, argument, task count) under a
 * mutex and bumps a generation number; workers wake, claim task numbers with
 * an atomic counter until none are left, and the last one to finish signals
 * the caller, which claims tasks too.  Threads sleep on a condition variable
 * between jobs, so an idle pool costs nothing.
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct ecn_pool {
    int n_threads; /* including the caller */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation;
    int stopping;
    /* the current job */
    ecn_task_fn fn;
    void *arg;
    int n_tasks;
    atomic_int next_task;
    int busy_workers;
};

typedef struct {
    ecn_pool *pool;
    int thread;
} worker_arg;

static void work(ecn_pool *p, int thread)
{
    for (;;) {
        int t = atomic_fetch_add(&p->next_task, 1);
        if (t >= p->n_tasks) return;
        p->fn(p->arg, t, thread);
    }
}

static void *worker_main(void *v)
{
    worker_arg wa = *(worker_arg *)v;
    free(v);
    ecn_pool *p = wa.pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->generation == seen && !p->stopping) pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        work(p, wa.thread);
        pthread_mutex_lock(&p->lock);
        if (--p->busy_workers == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

ecn_pool *ecn_pool_create(int threads)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    ecn_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = calloc((size_t)threads, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    for (int i = 1; i < threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){p, i};
        if (!wa || pthread_create(&p->workers[i], NULL, worker_main, wa)) {
            free(wa);
            p->n_threads = i; /* run with what we have */
            break;
        }
    }
    return p;
}

void ecn_pool_free(ecn_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int ecn_pool_threads(const ecn_pool *p) { return p ? p->n_threads : 1; }

void ecn_pool_run(ecn_pool *p, int n_tasks, ecn_task_fn fn, void *arg)
{
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store(&p->next_task, 0);
    p->busy_workers = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    work(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->busy_workers > 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
