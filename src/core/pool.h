/* pool.h - one pool of worker threads per network.
 *
 * All parallel work in the CPU path goes through this pool; OpenBLAS is told
 * to stay single-threaded so that two thread pools never spin at once.
 */
#ifndef ECN_POOL_H
#define ECN_POOL_H

typedef struct ecn_pool ecn_pool;

/* fn(arg, task, thread) is called once for each task in [0, n_tasks);
 * thread is in [0, ecn_pool_threads()) and names the scratch buffer to use. */
typedef void (*ecn_task_fn)(void *arg, int task, int thread);

ecn_pool *ecn_pool_create(int threads); /* threads <= 0: one per core */
void ecn_pool_free(ecn_pool *pool);
int ecn_pool_threads(const ecn_pool *pool);
/* Runs all tasks (the calling thread works too) and returns when all are done. */
void ecn_pool_run(ecn_pool *pool, int n_tasks, ecn_task_fn fn, void *arg);

#endif
