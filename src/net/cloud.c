/* cloud.c - the cloud server: accept loop, readers, a bounded frame queue,
 * workers that decode and run the tail.  See cloud.h for the threading. */
#include "cloud.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "transport.h"

/* One client connection, shared by its reader and the jobs in flight. */
typedef struct conn {
    int fd;
    int refs;                /* reader + queued/running jobs; guarded by the server lock */
    pthread_mutex_t wlock;   /* one reply at a time on the socket */
    struct conn *next;       /* in the server's list while its reader runs */
    struct ecn_cloud *srv;
} conn;

typedef struct job {
    conn *c;
    unsigned char *buf;
    size_t len;
} job;

struct ecn_cloud {
    ecn_net **nets;
    int workers, listen_fd, port;
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full, readers_done;
    job *queue;               /* ring buffer of cap jobs */
    int cap, head, count;
    int closing;              /* no more pushes: workers drain and exit */
    int readers;              /* live reader threads */
    conn *conns;              /* connections whose reader is running */
    long answered;
    pthread_t *threads;
};

typedef struct worker_arg {
    ecn_cloud *srv;
    int index;
} worker_arg;

static void conn_unref(conn *c)
{
    ecn_cloud *s = c->srv;
    pthread_mutex_lock(&s->lock);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last) return;
    close(c->fd);
    pthread_mutex_destroy(&c->wlock);
    free(c);
}

/* ---- the queue ----------------------------------------------------------- */

/* Blocks while full.  Returns -1 (and frees nothing) when the server is closing. */
static int queue_push(ecn_cloud *s, job j)
{
    pthread_mutex_lock(&s->lock);
    while (s->count == s->cap && !s->closing) pthread_cond_wait(&s->not_full, &s->lock);
    int ok = !s->closing;
    if (ok) {
        s->queue[(s->head + s->count++) % s->cap] = j;
        j.c->refs++;
        pthread_cond_signal(&s->not_empty);
    }
    pthread_mutex_unlock(&s->lock);
    return ok ? 0 : -1;
}

/* Blocks while empty; returns 0 with a job, -1 once closing and drained. */
static int queue_pop(ecn_cloud *s, job *j)
{
    pthread_mutex_lock(&s->lock);
    while (s->count == 0 && !s->closing) pthread_cond_wait(&s->not_empty, &s->lock);
    int ok = s->count > 0;
    if (ok) {
        *j = s->queue[s->head];
        s->head = (s->head + 1) % s->cap, s->count--;
        pthread_cond_signal(&s->not_full);
    }
    pthread_mutex_unlock(&s->lock);
    return ok ? 0 : -1;
}

/* ---- workers ------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Decode, run the tail, fill the reply. */
static void answer(ecn_net *net, const job *j, ecn_reply *r)
{
    ecn_err err;
    double t0 = now_s();
    memset(r, 0, offsetof(ecn_reply, scores));
    if (j->len >= 24)
        for (int i = 0; i < 8; i++) r->frame_id |= (unsigned long long)j->buf[16 + i] << (8 * i);
    if (ecn_net_split_decode(net, 0, j->buf, j->len, NULL, &err)) {
        r->status = ECN_REPLY_BAD_FRAME;
        size_t m = strnlen(err.msg, sizeof r->msg - 1);
        memcpy(r->msg, err.msg, m);
        r->msg[m] = 0;
    } else {
        int n = ecn_net_layer_count(net);
        const float *out = ecn_net_forward_range(net, NULL, ecn_net_split_layer(net) + 1, n, NULL, NULL);
        ecn_layer_info info;
        ecn_net_layer_info(net, n - 1, &info);
        size_t k = ecn_shape_size(info.out);
        r->classes = (int)(k < ECN_REPLY_MAX_CLASSES ? k : ECN_REPLY_MAX_CLASSES);
        memcpy(r->scores, out, (size_t)r->classes * sizeof(float));
    }
    r->cloud_us = (uint32_t)((now_s() - t0) * 1e6);
}

static void *worker_main(void *arg)
{
    worker_arg *w = arg;
    ecn_cloud *s = w->srv;
    ecn_reply *r = malloc(sizeof *r);
    unsigned char *out = malloc(28 + 4 * ECN_REPLY_MAX_CLASSES + sizeof r->msg);
    job j;
    while (r && out && queue_pop(s, &j) == 0) {
        answer(s->nets[w->index], &j, r);
        size_t n = ecn_reply_encode(r, out);
        pthread_mutex_lock(&j.c->wlock);
        ecn_msg_send(j.c->fd, out, n); /* a vanished client is not our problem */
        pthread_mutex_unlock(&j.c->wlock);
        free(j.buf);
        conn_unref(j.c);
        pthread_mutex_lock(&s->lock);
        s->answered++;
        pthread_mutex_unlock(&s->lock);
    }
    free(r);
    free(out);
    free(w);
    return NULL;
}

/* ---- readers ------------------------------------------------------------- */

static void reader_exit(conn *c)
{
    ecn_cloud *s = c->srv;
    pthread_mutex_lock(&s->lock);
    for (conn **p = &s->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    if (--s->readers == 0) pthread_cond_broadcast(&s->readers_done);
    pthread_mutex_unlock(&s->lock);
    conn_unref(c);
}

static void *reader_main(void *arg)
{
    conn *c = arg;
    ecn_err err;
    for (;;) {
        unsigned char *buf = NULL;
        size_t cap = 0, len = 0;
        if (ecn_msg_recv(c->fd, &buf, &cap, &len, &err) != 0) {
            free(buf); /* end of stream, error, or an oversized length: drop the connection */
            break;
        }
        if (queue_push(c->srv, (job){c, buf, len})) {
            free(buf);
            break;
        }
    }
    shutdown(c->fd, SHUT_RD);
    reader_exit(c);
    return NULL;
}

static void start_reader(ecn_cloud *s, int fd)
{
    conn *c = calloc(1, sizeof *c);
    pthread_t t;
    pthread_attr_t attr;
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd, c->refs = 1, c->srv = s;
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_lock(&s->lock);
    c->next = s->conns, s->conns = c, s->readers++;
    pthread_mutex_unlock(&s->lock);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, reader_main, c)) reader_exit(c);
    pthread_attr_destroy(&attr);
}

/* ---- the server ---------------------------------------------------------- */

int ecn_cloud_open(ecn_net **nets, int workers, int max_queue, const char *host, int port, ecn_cloud **out,
                   ecn_err *err)
{
    ecn_cloud *s = calloc(1, sizeof *s);
    *out = s;
    if (!s) {
        for (int i = 0; i < workers; i++) ecn_net_free(nets[i]);
        free(nets);
        return ecn_fail(err, "out of memory");
    }
    s->nets = nets, s->workers = workers, s->cap = max_queue > 0 ? max_queue : 1;
    s->queue = calloc((size_t)s->cap, sizeof *s->queue);
    s->threads = calloc((size_t)workers, sizeof *s->threads);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->not_empty, NULL);
    pthread_cond_init(&s->not_full, NULL);
    pthread_cond_init(&s->readers_done, NULL);
    s->listen_fd = s->queue && s->threads ? ecn_tcp_listen(host, port, &s->port, err) : ecn_fail(err, "out of memory");
    return s->listen_fd < 0 ? -1 : 0;
}

int ecn_cloud_port(const ecn_cloud *c) { return c->port; }

long ecn_cloud_answered(const ecn_cloud *c) { return c->answered; }

static int start_workers(ecn_cloud *s, ecn_err *err)
{
    for (int i = 0; i < s->workers; i++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w) return ecn_fail(err, "out of memory");
        *w = (worker_arg){s, i};
        if (pthread_create(&s->threads[i], NULL, worker_main, w)) {
            free(w);
            s->workers = i;
            return ecn_fail(err, "cannot start worker %d", i);
        }
    }
    return 0;
}

/* Stop the readers (their sockets stop reading), then let workers drain. */
static void drain(ecn_cloud *s)
{
    pthread_mutex_lock(&s->lock);
    for (conn *c = s->conns; c; c = c->next) shutdown(c->fd, SHUT_RD);
    while (s->readers > 0) pthread_cond_wait(&s->readers_done, &s->lock);
    s->closing = 1;
    pthread_cond_broadcast(&s->not_empty);
    pthread_cond_broadcast(&s->not_full);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->workers; i++) pthread_join(s->threads[i], NULL);
}

int ecn_cloud_run(ecn_cloud *s, volatile sig_atomic_t *stop, ecn_err *err)
{
    int rc = start_workers(s, err);
    while (rc == 0 && !*stop) {
        struct pollfd p = {s->listen_fd, POLLIN, 0};
        if (poll(&p, 1, 100) != 1) continue; /* timeout or EINTR: look at *stop again */
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd >= 0) ecn_tcp_nodelay(fd), start_reader(s, fd);
    }
    close(s->listen_fd);
    s->listen_fd = -1;
    drain(s);
    return rc;
}

void ecn_cloud_free(ecn_cloud *s)
{
    if (!s) return;
    if (s->listen_fd >= 0) close(s->listen_fd);
    for (int i = 0; i < s->workers; i++) ecn_net_free(s->nets[i]);
    free(s->nets);
    free(s->queue);
    free(s->threads);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->not_empty);
    pthread_cond_destroy(&s->not_full);
    pthread_cond_destroy(&s->readers_done);
    free(s);
}
