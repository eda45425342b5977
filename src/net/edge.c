/* edge.c - the edge runtime: head, exits, offload with a window of frames
 * in flight, deadlines, fallbacks, reconnect with backoff.  See edge.h. */
#include "edge.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "../train/eval.h"
#include "transport.h"

typedef struct slot {
    int used, label, fallback; /* fallback: the best exit's answer */
    unsigned long long id;
    double start, deadline;    /* ms, monotonic */
} slot;

struct ecn_edge {
    ecn_net *net;
    ecn_edge_opts o;
    int split, fd, in_flight;
    double retry_at, backoff;  /* ms */
    unsigned long long next_id;
    slot *slots;
    unsigned char *frame, *rbuf;
    size_t frame_cap, rlen, rcap, lat_cap;
    ecn_reply reply;
    ecn_edge_stats st;
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int argmax(const float *p, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best]) best = i;
    return best;
}

/* ---- results ------------------------------------------------------------- */

static void record(ecn_edge *e, double start, int answer, int label)
{
    if ((size_t)e->st.results == e->lat_cap) {
        double *l = realloc(e->st.latency_ms, (e->lat_cap * 2 + 1024) * sizeof *l);
        if (l) e->st.latency_ms = l, e->lat_cap = e->lat_cap * 2 + 1024;
    }
    if ((size_t)e->st.results < e->lat_cap) e->st.latency_ms[e->st.results] = now_ms() - start;
    e->st.results++;
    if (label >= 0) e->st.labelled++, e->st.correct += answer == label;
}

static void finish(ecn_edge *e, slot *s, int answer)
{
    record(e, s->start, answer, s->label);
    s->used = 0;
    e->in_flight--;
}

static void fall_back(ecn_edge *e, slot *s)
{
    e->st.fallbacks++;
    finish(e, s, s->fallback);
}

/* ---- the connection ------------------------------------------------------ */

static void try_connect(ecn_edge *e)
{
    if (e->fd >= 0 || now_ms() < e->retry_at) return;
    e->fd = ecn_tcp_connect(e->o.host, e->o.port, 200, NULL);
    if (e->fd < 0) {
        e->retry_at = now_ms() + e->backoff;
        e->backoff = e->backoff * 2 < 1000 ? e->backoff * 2 : 1000;
        return;
    }
    struct timeval tv = {e->o.deadline_ms / 1000, (e->o.deadline_ms % 1000) * 1000};
    setsockopt(e->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* a stuck cloud cannot hold us */
    e->backoff = 50, e->rlen = 0;
}

/* Close the connection; every frame in flight falls back. */
static void drop_connection(ecn_edge *e)
{
    close(e->fd);
    e->fd = -1;
    e->retry_at = now_ms() + e->backoff;
    e->backoff = e->backoff * 2 < 1000 ? e->backoff * 2 : 1000;
    for (int i = 0; i < e->o.window; i++)
        if (e->slots[i].used) fall_back(e, &e->slots[i]);
}

static void on_reply(ecn_edge *e, const unsigned char *buf, size_t len)
{
    if (ecn_reply_decode(buf, len, &e->reply, NULL)) return;
    for (int i = 0; i < e->o.window; i++) {
        slot *s = &e->slots[i];
        if (!s->used || s->id != e->reply.frame_id) continue;
        if (e->reply.status == ECN_REPLY_OK && e->reply.classes > 0) finish(e, s, argmax(e->reply.scores, e->reply.classes));
        else fall_back(e, s);
        return;
    }
    /* a late reply for a frame already answered: ignored */
}

/* Parse whole messages out of rbuf.  Returns -1 on an oversized length. */
static int parse_replies(ecn_edge *e)
{
    size_t at = 0;
    while (e->rlen - at >= 4) {
        uint32_t n = ecn_get_u32(e->rbuf + at);
        if (n > ECN_MSG_MAX) return -1;
        if (e->rlen - at - 4 < n) break;
        on_reply(e, e->rbuf + at + 4, n);
        at += 4 + (size_t)n;
    }
    memmove(e->rbuf, e->rbuf + at, e->rlen - at);
    e->rlen -= at;
    return 0;
}

/* Read whatever has arrived without blocking. */
static void read_replies(ecn_edge *e)
{
    for (;;) {
        if (e->rcap - e->rlen < 65536) {
            unsigned char *b = realloc(e->rbuf, e->rcap * 2 + 65536);
            if (!b) return drop_connection(e);
            e->rbuf = b, e->rcap = e->rcap * 2 + 65536;
        }
        ssize_t n = recv(e->fd, e->rbuf + e->rlen, e->rcap - e->rlen, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) return drop_connection(e);
        e->rlen += (size_t)n;
        if (parse_replies(e)) return drop_connection(e);
    }
}

static void expire(ecn_edge *e)
{
    double t = now_ms();
    for (int i = 0; i < e->o.window; i++)
        if (e->slots[i].used && e->slots[i].deadline <= t) fall_back(e, &e->slots[i]);
}

/* Wait up to the earliest deadline for replies, once. */
static void pump(ecn_edge *e)
{
    double first = now_ms() + 1000;
    for (int i = 0; i < e->o.window; i++)
        if (e->slots[i].used && e->slots[i].deadline < first) first = e->slots[i].deadline;
    int wait = (int)(first - now_ms()) + 1;
    if (e->fd >= 0) {
        struct pollfd p = {e->fd, POLLIN, 0};
        if (poll(&p, 1, wait > 0 ? wait : 0) > 0) read_replies(e);
    }
    expire(e);
}

/* ---- frames -------------------------------------------------------------- */

static slot *free_slot(ecn_edge *e)
{
    while (e->in_flight >= e->o.window) pump(e);
    for (int i = 0; i < e->o.window; i++)
        if (!e->slots[i].used) return &e->slots[i];
    return NULL; /* not reached */
}

/* Send the frame of the head just run; on failure the frame falls back. */
static int offload(ecn_edge *e, double start, int label, int best, ecn_err *err)
{
    slot *s = free_slot(e);
    size_t len;
    *s = (slot){1, label, best, ++e->next_id, start, start + e->o.deadline_ms};
    e->in_flight++;
    if (ecn_net_split_encode(e->net, 0, s->id, &e->frame, &e->frame_cap, &len, err)) {
        fall_back(e, s);
        return -1;
    }
    e->st.offloaded++;
    e->st.offload_bytes += (double)len;
    try_connect(e);
    if (e->fd < 0) fall_back(e, s);
    else if (ecn_msg_send(e->fd, e->frame, len)) drop_connection(e);
    if (e->fd >= 0) read_replies(e);
    return 0;
}

int ecn_edge_submit(ecn_edge *e, const float *x, int label, ecn_err *err)
{
    double start = now_ms();
    ecn_net_forward_range(e->net, x, 0, e->split + 1, NULL, NULL);
    e->st.frames++;
    if (e->fd >= 0) read_replies(e); /* collect replies between heads: latency */
    expire(e);
    int best = -1;
    float best_h = 0;
    for (int k = 0; k < ecn_net_exit_count(e->net); k++) {
        int classes;
        const float *p = ecn_net_exit_output(e->net, k, &classes);
        float h = (float)ecn_entropy(p, classes);
        if (h < ecn_net_exit_threshold(e->net, k)) {
            record(e, start, argmax(p, classes), label);
            return 0;
        }
        if (best < 0 || h < best_h) best = argmax(p, classes), best_h = h;
    }
    return offload(e, start, label, best, err);
}

void ecn_edge_drain(ecn_edge *e)
{
    while (e->in_flight > 0) pump(e);
}

/* ---- life cycle ---------------------------------------------------------- */

int ecn_edge_open(ecn_net *net, const ecn_edge_opts *o, ecn_edge **out, ecn_err *err)
{
    *out = NULL;
    if (ecn_net_split_layer(net) < 0) return ecn_fail(err, "the network has no [split]: nothing to offload");
    if (ecn_net_batch(net) != 1) return ecn_fail(err, "the edge runs batch 1, not %d", ecn_net_batch(net));
    ecn_edge *e = calloc(1, sizeof *e);
    if (!e) return ecn_fail(err, "out of memory");
    e->net = net, e->o = *o, e->fd = -1, e->backoff = 50;
    if (e->o.window < 1) e->o.window = 1;
    if (e->o.deadline_ms < 1) e->o.deadline_ms = 1000;
    e->split = ecn_net_split_layer(net);
    e->slots = calloc((size_t)e->o.window, sizeof *e->slots);
    *out = e;
    if (!e->slots) return ecn_fail(err, "out of memory");
    try_connect(e);
    return 0;
}

const ecn_edge_stats *ecn_edge_get_stats(const ecn_edge *e) { return &e->st; }

void ecn_edge_free(ecn_edge *e)
{
    if (!e) return;
    if (e->fd >= 0) close(e->fd);
    free(e->slots);
    free(e->frame);
    free(e->rbuf);
    free(e->st.latency_ms);
    free(e);
}
