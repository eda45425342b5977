/* cloud.c - the cloud server: accept loop, readers (which check
 * authentication), a bounded frame queue, workers that answer batches of
 * frames.  See cloud.h for the threading, batching and refusals. */
#include "cloud.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "transport.h"

#define LOGGED_REFUSALS 5 /* per connection; later ones are only counted */

/* One client connection, shared by its reader and the jobs in flight. */
typedef struct conn {
    int fd;
    int refs;                /* reader + queued/running jobs; guarded by the server lock */
    pthread_mutex_t wlock;   /* one reply at a time on the socket; guards auth.sent */
    struct conn *next;       /* in the server's list while its reader runs */
    struct ecn_cloud *srv;
    ecn_auth_conn auth;      /* nonces and sequence numbers (with a key) */
    long refused;            /* frames refused; the reader's alone */
    char peer[64];           /* "127.0.0.1:40000", for the log */
} conn;

typedef struct job {
    conn *c;
    unsigned char *buf;      /* the frame (its trailer already checked and cut off) */
    size_t len;
} job;

/* A worker thread's networks (one per batch size) and buffers. */
typedef struct worker {
    struct ecn_cloud *srv;
    ecn_net **nets;
    int filled[ECN_CLOUD_MAX_SIZES]; /* slots of each network ever written */
    pthread_t thread;
    job *jobs;               /* max_batch */
    int *slot;               /* image slot of each job, -1 when it did not decode */
    ecn_reply *replies;      /* max_batch */
    unsigned char *out;      /* one encoded reply */
} worker;

struct ecn_cloud {
    ecn_net **nets;
    ecn_cloud_opts o;
    int sizes[ECN_CLOUD_MAX_SIZES], n_sizes;
    int listen_fd, port, started;
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full, readers_done;
    job *queue;               /* ring buffer of cap jobs */
    int cap, head, count;
    int closing;              /* no more pushes: workers drain and exit */
    int readers;              /* live reader threads */
    conn *conns;              /* connections whose reader is running */
    ecn_cloud_stats stats;
    worker *workers;
};

static void log_line(const ecn_cloud *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(const ecn_cloud *s, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    if (!s->o.log) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(s->o.log, "ecnet cloud: %s\n", line); /* one call: lines of threads do not interleave */
}

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

/* One reply on c's socket; with `sign`, followed by its trailer. */
static void send_reply(conn *c, const unsigned char *msg, size_t len, int sign)
{
    unsigned char trailer[ECN_TRAILER_BYTES];
    pthread_mutex_lock(&c->wlock);
    if (!sign) ecn_msg_send(c->fd, msg, len); /* a vanished client is not our problem */
    else if (ecn_auth_seal(&c->auth, ECN_TO_EDGE, msg, len, trailer) == 0)
        ecn_msg_send2(c->fd, msg, len, trailer, sizeof trailer);
    pthread_mutex_unlock(&c->wlock);
}

/* The frame id at bytes 16..23 of a frame (0 when the message does not
 * start like a frame: too short, or another magic). */
static unsigned long long frame_id_of(const unsigned char *buf, size_t len)
{
    unsigned long long id = 0;
    if (len >= 24 && memcmp(buf, "ECNF", 4) == 0)
        for (int i = 0; i < 8; i++) id |= (unsigned long long)buf[16 + i] << (8 * i);
    return id;
}

static void set_error(ecn_reply *r, int status, const char *text)
{
    r->status = status;
    size_t m = strnlen(text, sizeof r->msg - 1);
    memcpy(r->msg, text, m);
    r->msg[m] = 0;
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

/* Blocks while empty, then takes up to max jobs that are queued already.
 * Returns how many; 0 once closing and drained. */
static int queue_pop(ecn_cloud *s, job *jobs, int max)
{
    pthread_mutex_lock(&s->lock);
    while (s->count == 0 && !s->closing) pthread_cond_wait(&s->not_empty, &s->lock);
    int n = s->count < max ? s->count : max;
    for (int i = 0; i < n; i++) {
        jobs[i] = s->queue[s->head];
        s->head = (s->head + 1) % s->cap, s->count--;
    }
    if (n > 0) pthread_cond_broadcast(&s->not_full);
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ---- workers ------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* The smallest of the worker's networks that holds n images (its index). */
static int size_for(const worker *w, int n)
{
    const ecn_cloud *s = w->srv;
    for (int i = 0; i < s->n_sizes; i++)
        if (s->sizes[i] >= n) return i;
    return s->n_sizes - 1;
}

/* Every slot of a network is computed, used or not.  A slot left over from
 * an earlier batch holds a real frame, which is harmless; a slot never
 * written holds uninitialised memory (NaNs, or denormals that are slow to
 * compute on).  So the first time, such slots get a copy of a good frame. */
static void fill_unused(worker *w, int size, int decoded, const job *good)
{
    ecn_net *net = w->nets[size];
    for (int slot = w->filled[size] > decoded ? w->filled[size] : decoded; slot < w->srv->sizes[size]; slot++)
        ecn_net_split_decode(net, slot, good->buf, good->len, NULL, NULL);
    w->filled[size] = w->srv->sizes[size];
}

/* The layers after the split, once for every slot; scores to each reply. */
static void run_tail(worker *w, ecn_net *net, int n)
{
    int layers = ecn_net_layer_count(net);
    const float *out = ecn_net_forward_range(net, NULL, ecn_net_split_layer(net) + 1, layers, NULL, NULL);
    ecn_layer_info info;
    ecn_net_layer_info(net, layers - 1, &info);
    size_t k = ecn_shape_size(info.out);
    int classes = (int)(k < ECN_REPLY_MAX_CLASSES ? k : ECN_REPLY_MAX_CLASSES);
    for (int i = 0; i < n; i++) {
        if (w->slot[i] < 0) continue;
        w->replies[i].classes = classes;
        memcpy(w->replies[i].scores, out + (size_t)w->slot[i] * k, (size_t)classes * sizeof(float));
    }
}

/* Decode the n jobs into consecutive image slots (a frame that does not
 * decode gets an error reply and no slot), run the tail, fill the replies. */
static void answer(worker *w, int n)
{
    double t0 = now_s();
    int size = size_for(w, n), decoded = 0, first_good = -1;
    ecn_net *net = w->nets[size];
    for (int i = 0; i < n; i++) {
        ecn_reply *r = &w->replies[i];
        ecn_err err;
        memset(r, 0, offsetof(ecn_reply, scores));
        r->frame_id = frame_id_of(w->jobs[i].buf, w->jobs[i].len);
        w->slot[i] = -1;
        if (ecn_net_split_decode(net, decoded, w->jobs[i].buf, w->jobs[i].len, NULL, &err)) {
            set_error(r, ECN_REPLY_BAD_FRAME, err.msg);
            continue;
        }
        if (first_good < 0) first_good = i;
        w->slot[i] = decoded++;
    }
    if (decoded > 0) {
        if (w->filled[size] < w->srv->sizes[size]) fill_unused(w, size, decoded, &w->jobs[first_good]);
        run_tail(w, net, n);
    }
    uint32_t us = (uint32_t)((now_s() - t0) * 1e6);
    for (int i = 0; i < n; i++) w->replies[i].cloud_us = us;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    ecn_cloud *s = w->srv;
    int n;
    while ((n = queue_pop(s, w->jobs, s->o.max_batch)) > 0) {
        answer(w, n);
        for (int i = 0; i < n; i++) {
            size_t len = ecn_reply_encode(&w->replies[i], w->out);
            send_reply(w->jobs[i].c, w->out, len, s->o.key != NULL);
            free(w->jobs[i].buf);
            conn_unref(w->jobs[i].c);
        }
        pthread_mutex_lock(&s->lock);
        s->stats.answered += n, s->stats.batches++;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* ---- authentication (readers) -------------------------------------------- */

/* A status-3 reply (no trailer: the peer may not hold the key) and a log line. */
static void refuse(conn *c, const unsigned char *buf, size_t len, const char *why)
{
    ecn_reply r;
    unsigned char out[28 + ECN_REPLY_MAX_TEXT];
    memset(&r, 0, offsetof(ecn_reply, scores));
    r.frame_id = frame_id_of(buf, len);
    set_error(&r, ECN_REPLY_UNAUTHENTICATED, why);
    send_reply(c, out, ecn_reply_encode(&r, out), 0);
    pthread_mutex_lock(&c->srv->lock);
    c->srv->stats.refused++;
    pthread_mutex_unlock(&c->srv->lock);
    if (++c->refused <= LOGGED_REFUSALS)
        log_line(c->srv, "%s: refused a frame: %s%s", c->peer, why,
                 c->refused == LOGGED_REFUSALS ? " (later refusals on this connection are only counted)" : "");
}

/* Hellos: ours out, the edge's in.  -1 when the connection must close. */
static int greet(conn *c)
{
    unsigned char hello[ECN_HELLO_BYTES], *buf = NULL;
    size_t cap = 0, len = 0;
    c->auth.key = c->srv->o.key;
    if (ecn_auth_nonce(c->auth.cloud_nonce)) {
        log_line(c->srv, "%s: no random bytes for a nonce: connection closed", c->peer);
        return -1;
    }
    ecn_hello_encode(ECN_ROLE_CLOUD, c->auth.cloud_nonce, hello);
    pthread_mutex_lock(&c->wlock);
    int rc = ecn_msg_send(c->fd, hello, sizeof hello);
    pthread_mutex_unlock(&c->wlock);
    if (rc == 0) rc = ecn_msg_recv(c->fd, &buf, &cap, &len, NULL);
    if (rc == 0 && ecn_hello_decode(buf, len, ECN_ROLE_EDGE, c->auth.edge_nonce) == 0) {
        free(buf);
        return 0;
    }
    if (rc == 0)
        refuse(c, buf, len,
               "the first message is not an edge's hello (an edge without --key-file, or a lost hello); "
               "connection closed");
    free(buf);
    return -1;
}

/* Check a frame's trailer; on success *len shrinks to the frame's own bytes.
 * Returns 1 when the frame may be queued, 0 after refusing it. */
static int admit(conn *c, const unsigned char *buf, size_t *len)
{
    uint64_t seq = 0;
    int rc = ecn_auth_check(&c->auth, ECN_TO_CLOUD, buf, *len, len, &seq);
    if (rc == ECN_AUTH_OK) return 1;
    char why[256];
    if (rc == ECN_AUTH_REPLAY)
        snprintf(why, sizeof why, "replayed: sequence number %llu, not above the last accepted, %llu",
                 (unsigned long long)seq, (unsigned long long)c->auth.accepted);
    else
        snprintf(why, sizeof why, "%s", ecn_auth_reason(rc));
    refuse(c, buf, *len, why);
    return 0;
}

/* ---- readers ------------------------------------------------------------- */

static void reader_exit(conn *c)
{
    ecn_cloud *s = c->srv;
    if (c->refused > LOGGED_REFUSALS) log_line(s, "%s: closed after refusing %ld frames", c->peer, c->refused);
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
    ecn_cloud *s = c->srv;
    int open = !s->o.key || greet(c) == 0;
    while (open) {
        unsigned char *buf = NULL;
        size_t cap = 0, len = 0;
        /* end of stream, error, or an oversized length: drop the connection */
        open = ecn_msg_recv(c->fd, &buf, &cap, &len, NULL) == 0;
        if (open && s->o.key && !admit(c, buf, &len)) {
            free(buf);
            continue;
        }
        if (open) open = queue_push(s, (job){c, buf, len}) == 0;
        if (!open) free(buf);
    }
    shutdown(c->fd, SHUT_RD);
    reader_exit(c);
    return NULL;
}

static void describe_peer(int fd, char *out, size_t cap)
{
    struct sockaddr_in a;
    socklen_t n = sizeof a;
    char ip[INET_ADDRSTRLEN] = "?";
    memset(&a, 0, sizeof a);
    if (getpeername(fd, (struct sockaddr *)&a, &n) == 0) inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%d", ip, ntohs(a.sin_port));
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
    describe_peer(fd, c->peer, sizeof c->peer);
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

int ecn_cloud_batch_sizes(int max_batch, int sizes[ECN_CLOUD_MAX_SIZES])
{
    int n = 0;
    for (long b = 1; b < max_batch && n < ECN_CLOUD_MAX_SIZES - 1; b *= 2) sizes[n++] = (int)b;
    sizes[n++] = max_batch > 1 ? max_batch : 1;
    return n;
}

/* Each worker's networks must have the batch sizes of the ladder. */
static int check_nets(const ecn_cloud *s, ecn_err *err)
{
    for (int w = 0; w < s->o.workers; w++)
        for (int i = 0; i < s->n_sizes; i++) {
            const ecn_net *net = s->nets[w * s->n_sizes + i];
            if (!net || ecn_net_batch(net) != s->sizes[i] || ecn_net_split_layer(net) < 0)
                return ecn_fail(err, "worker %d's network %d: want batch %d and a [split]", w, i, s->sizes[i]);
        }
    return 0;
}

static int alloc_workers(ecn_cloud *s, ecn_err *err)
{
    int b = s->o.max_batch;
    s->workers = calloc((size_t)s->o.workers, sizeof *s->workers);
    if (!s->workers) return ecn_fail(err, "out of memory");
    for (int i = 0; i < s->o.workers; i++) {
        worker *w = &s->workers[i];
        w->srv = s, w->nets = s->nets + (size_t)i * s->n_sizes;
        w->jobs = calloc((size_t)b, sizeof *w->jobs);
        w->slot = calloc((size_t)b, sizeof *w->slot);
        w->replies = calloc((size_t)b, sizeof *w->replies);
        w->out = malloc(ECN_REPLY_MAX_BYTES);
        if (!w->jobs || !w->slot || !w->replies || !w->out) return ecn_fail(err, "out of memory");
    }
    return 0;
}

int ecn_cloud_open(ecn_net **nets, const ecn_cloud_opts *o, ecn_cloud **out, ecn_err *err)
{
    ecn_cloud *s = calloc(1, sizeof *s);
    *out = s;
    if (!s) {
        int sizes[ECN_CLOUD_MAX_SIZES], n = o->workers * ecn_cloud_batch_sizes(o->max_batch, sizes);
        for (int i = 0; i < n; i++) ecn_net_free(nets[i]);
        free(nets);
        return ecn_fail(err, "out of memory");
    }
    s->nets = nets, s->o = *o, s->listen_fd = -1;
    s->n_sizes = ecn_cloud_batch_sizes(o->max_batch, s->sizes);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->not_empty, NULL);
    pthread_cond_init(&s->not_full, NULL);
    pthread_cond_init(&s->readers_done, NULL);
    if (s->o.workers < 1 || s->o.max_batch < 1 || s->o.max_queue < 1)
        return ecn_fail(err, "workers, max_batch and max_queue must be at least 1");
    s->cap = o->max_queue;
    s->queue = calloc((size_t)s->cap, sizeof *s->queue);
    if (!s->queue) return ecn_fail(err, "out of memory");
    if (check_nets(s, err) || alloc_workers(s, err)) return -1;
    s->listen_fd = ecn_tcp_listen(o->host, o->port, &s->port, err);
    return s->listen_fd < 0 ? -1 : 0;
}

int ecn_cloud_port(const ecn_cloud *c) { return c->port; }

ecn_cloud_stats ecn_cloud_get_stats(ecn_cloud *s)
{
    pthread_mutex_lock(&s->lock);
    ecn_cloud_stats st = s->stats;
    pthread_mutex_unlock(&s->lock);
    return st;
}

static int start_workers(ecn_cloud *s, ecn_err *err)
{
    for (; s->started < s->o.workers; s->started++)
        if (pthread_create(&s->workers[s->started].thread, NULL, worker_main, &s->workers[s->started]))
            return ecn_fail(err, "cannot start worker %d", s->started);
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
    for (int i = 0; i < s->started; i++) pthread_join(s->workers[i].thread, NULL);
    s->started = 0;
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

static void free_workers(ecn_cloud *s)
{
    for (int i = 0; s->workers && i < s->o.workers; i++) {
        free(s->workers[i].jobs);
        free(s->workers[i].slot);
        free(s->workers[i].replies);
        free(s->workers[i].out);
    }
    free(s->workers);
}

void ecn_cloud_free(ecn_cloud *s)
{
    if (!s) return;
    if (s->listen_fd >= 0) close(s->listen_fd);
    for (int i = 0; i < s->o.workers * s->n_sizes; i++) ecn_net_free(s->nets[i]);
    free(s->nets);
    free(s->queue);
    free_workers(s);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->not_empty);
    pthread_cond_destroy(&s->not_full);
    pthread_cond_destroy(&s->readers_done);
    free(s);
}
