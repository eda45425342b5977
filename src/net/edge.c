/* edge.c - the edge runtime: head, exits, offload with a window of frames
 * in flight, deadlines, fallbacks, reconnect with backoff, and with a key
 * the hellos and trailers of auth.h.  See edge.h. */
#include "edge.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "../train/eval.h"
#include "../split/frame.h"
#include "transport.h"

/* A load generator's memory of one image: its exit's answer, or its frame. */
typedef struct replayed {
    int known, answer, best;  /* answer >= 0: an exit answered; else best is the fallback */
    size_t len;
    unsigned char *frame;
} replayed;

typedef struct slot {
    int used, label, fallback; /* fallback: the best exit's answer */
    unsigned long long id;
    double start, deadline;    /* ms, monotonic */
} slot;

struct ecn_edge {
    ecn_net *net;
    ecn_edge_opts o;
    int split, fd, in_flight;
    int classes;               /* what a reply must carry: the last layer's outputs */
    double retry_at, backoff;  /* ms */
    unsigned long long next_id;
    slot *slots;
    unsigned char *frame, *rbuf;
    size_t frame_cap, rlen, rcap, lat_cap;
    ecn_reply reply;
    ecn_auth_conn auth;        /* this connection's nonces and sequence numbers */
    unsigned noted;            /* NOTE_* already logged */
    ecn_edge_stats st;
    replayed *cache;           /* opts.replay entries, or NULL */
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

/* Problems the log hears about once each (the first time). */
enum { NOTE_HELLO = 1, NOTE_WANTS_KEY = 2, NOTE_REFUSED = 4, NOTE_BAD_REPLY = 8 };

static void note(ecn_edge *e, unsigned kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(ecn_edge *e, unsigned kind, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    if (!e->o.log || (e->noted & kind)) return;
    e->noted |= kind;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(e->o.log, "ecnet edge: %s\n", text);
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

/* Why the cloud's first message is not the hello we wait for. */
static void note_bad_hello(ecn_edge *e, int rc, const unsigned char *buf, size_t len)
{
    if (rc == 0 && len >= 4 && memcmp(buf, "ECNR", 4) == 0)
        note(e, NOTE_HELLO, "the cloud answered the hello as a frame: it runs without --key-file");
    else if (rc == 0)
        note(e, NOTE_HELLO, "the cloud's first message is not its hello");
    else if (rc == 1)
        note(e, NOTE_HELLO, "the cloud closed the connection before its hello");
    else
        note(e, NOTE_HELLO, "no hello from the cloud within %d ms", ECN_EDGE_HELLO_MS);
}

/* Hellos on a fresh connection: ours out, the cloud's in.  0 when done. */
static int handshake(ecn_edge *e)
{
    unsigned char hello[ECN_HELLO_BYTES], *buf = NULL;
    size_t cap = 0, len = 0;
    e->auth = (ecn_auth_conn){.key = e->o.key};
    if (ecn_auth_nonce(e->auth.edge_nonce)) {
        note(e, NOTE_HELLO, "no random bytes for a nonce");
        return -1;
    }
    ecn_hello_encode(ECN_ROLE_EDGE, e->auth.edge_nonce, hello);
    struct timeval tv = {ECN_EDGE_HELLO_MS / 1000, (ECN_EDGE_HELLO_MS % 1000) * 1000}, none = {0, 0};
    setsockopt(e->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = ecn_msg_send(e->fd, hello, sizeof hello) ? -1 : ecn_msg_recv(e->fd, &buf, &cap, &len, NULL);
    setsockopt(e->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    int ok = rc == 0 && ecn_hello_decode(buf, len, ECN_ROLE_CLOUD, e->auth.cloud_nonce) == 0;
    if (!ok) note_bad_hello(e, rc, buf, len);
    free(buf);
    return ok ? 0 : -1;
}

static void back_off(ecn_edge *e)
{
    e->retry_at = now_ms() + e->backoff;
    e->backoff = e->backoff * 2 < 1000 ? e->backoff * 2 : 1000;
}

static void try_connect(ecn_edge *e)
{
    if (e->fd >= 0 || now_ms() < e->retry_at) return;
    e->fd = ecn_tcp_connect(e->o.host, e->o.port, 200, NULL);
    if (e->fd >= 0 && e->o.key && handshake(e)) {
        close(e->fd);
        e->fd = -1;
    }
    if (e->fd < 0) return back_off(e);
    struct timeval tv = {e->o.deadline_ms / 1000, (e->o.deadline_ms % 1000) * 1000};
    setsockopt(e->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* a stuck cloud cannot hold us */
    e->backoff = 50, e->rlen = 0;
}

/* Close the connection; every frame in flight falls back. */
static void drop_connection(ecn_edge *e)
{
    close(e->fd);
    e->fd = -1;
    back_off(e);
    for (int i = 0; i < e->o.window; i++)
        if (e->slots[i].used) fall_back(e, &e->slots[i]);
}

/* Answer the frame a reply names (a reply for a frame already answered is
 * late: ignored). */
static void use_reply(ecn_edge *e, const ecn_reply *r)
{
    if (r->status == ECN_REPLY_UNAUTHENTICATED) {
        e->st.refused++;
        note(e, NOTE_REFUSED, "the cloud refused a frame: %s", r->msg);
    }
    for (int i = 0; i < e->o.window; i++) {
        slot *s = &e->slots[i];
        if (!s->used || s->id != r->frame_id) continue;
        if (r->status == ECN_REPLY_OK && r->classes == e->classes) finish(e, s, argmax(r->scores, r->classes));
        else fall_back(e, s);
        return;
    }
}

/* A refusal as a cloud with a key sends it: status 3, and no trailer. */
static int is_refusal(const unsigned char *buf, size_t len)
{
    return len >= 28 && memcmp(buf, "ECNR", 4) == 0 && buf[6] == ECN_REPLY_UNAUTHENTICATED && buf[7] == 0;
}

static void on_reply(ecn_edge *e, const unsigned char *buf, size_t len)
{
    if (!e->o.key && ecn_hello_magic(buf, len)) {
        note(e, NOTE_WANTS_KEY, "the cloud wants authentication: run the edge with its --key-file");
        return;
    }
    if (e->o.key && !is_refusal(buf, len)) {
        int rc = ecn_auth_check(&e->auth, ECN_TO_EDGE, buf, len, &len, NULL);
        if (rc != ECN_AUTH_OK) {
            e->st.bad_replies++;
            note(e, NOTE_BAD_REPLY, "ignored a reply: %s", ecn_auth_reason(rc));
            return;
        }
    }
    if (ecn_reply_decode(buf, len, &e->reply, NULL) == 0) use_reply(e, &e->reply);
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

/* The frame in e->frame, sealed when authenticating. */
static int send_frame(ecn_edge *e, size_t len)
{
    unsigned char trailer[ECN_TRAILER_BYTES];
    if (!e->o.key) return ecn_msg_send(e->fd, e->frame, len);
    if (ecn_auth_seal(&e->auth, ECN_TO_CLOUD, e->frame, len, trailer)) return -1;
    return ecn_msg_send2(e->fd, e->frame, len, trailer, sizeof trailer);
}

/* Send the frame in e->frame (len bytes, already stamped with s->id);
 * on failure the frame falls back. */
static void send_offload(ecn_edge *e, slot *s, size_t len)
{
    e->st.offloaded++;
    e->st.offload_bytes += (double)len;
    try_connect(e);
    if (e->fd < 0) fall_back(e, s);
    else if (send_frame(e, len)) drop_connection(e);
    if (e->fd >= 0) read_replies(e);
}

static slot *take_slot(ecn_edge *e, double start, int label, int best)
{
    slot *s = free_slot(e);
    *s = (slot){1, label, best, ++e->next_id, start, start + e->o.deadline_ms};
    e->in_flight++;
    return s;
}

/* Send the frame of the head just run. */
static int offload(ecn_edge *e, double start, int label, int best, size_t *frame_len, ecn_err *err)
{
    slot *s = take_slot(e, start, label, best);
    if (ecn_net_split_encode(e->net, 0, s->id, &e->frame, &e->frame_cap, frame_len, err)) {
        fall_back(e, s);
        return -1;
    }
    send_offload(e, s, *frame_len);
    return 0;
}

/* Run the head; *answer >= 0 when an exit is sure enough, else *best is
 * the most confident exit's answer (-1 without exits). */
static void run_head(ecn_edge *e, const float *x, int *answer, int *best)
{
    ecn_net_forward_range(e->net, x, 0, e->split + 1, NULL, NULL);
    e->st.frames++;
    if (e->fd >= 0) read_replies(e); /* collect replies between heads: latency */
    expire(e);
    float best_h = 0;
    *answer = *best = -1;
    for (int k = 0; k < ecn_net_exit_count(e->net); k++) {
        int classes;
        const float *p = ecn_net_exit_output(e->net, k, &classes);
        float h = (float)ecn_entropy(p, classes);
        if (h < ecn_net_exit_threshold(e->net, k)) {
            *answer = argmax(p, classes);
            return;
        }
        if (*best < 0 || h < best_h) *best = argmax(p, classes), best_h = h;
    }
}

int ecn_edge_submit(ecn_edge *e, const float *x, int label, ecn_err *err)
{
    double start = now_ms();
    int answer, best;
    size_t len;
    run_head(e, x, &answer, &best);
    if (answer >= 0) {
        record(e, start, answer, label);
        return 0;
    }
    return offload(e, start, label, best, &len, err);
}

/* A remembered outcome, replayed: no head, the frame restamped with a new id. */
static int replay(ecn_edge *e, const replayed *c, int label, ecn_err *err)
{
    double start = now_ms();
    e->st.frames++;
    if (e->fd >= 0) read_replies(e);
    expire(e);
    if (c->answer >= 0) {
        record(e, start, c->answer, label);
        return 0;
    }
    slot *s = take_slot(e, start, label, c->best);
    if (e->frame_cap < c->len) {
        unsigned char *f = realloc(e->frame, c->len);
        if (!f) {
            fall_back(e, s);
            return ecn_fail(err, "out of memory");
        }
        e->frame = f, e->frame_cap = c->len;
    }
    memcpy(e->frame, c->frame, c->len);
    ecn_frame_restamp(e->frame, c->len, s->id);
    send_offload(e, s, c->len);
    return 0;
}

int ecn_edge_submit_keyed(ecn_edge *e, const float *x, int key, int label, ecn_err *err)
{
    if (!e->cache || key < 0 || key >= e->o.replay) return ecn_edge_submit(e, x, label, err);
    replayed *c = &e->cache[key];
    if (c->known) return replay(e, c, label, err);
    double start = now_ms();
    size_t len = 0;
    run_head(e, x, &c->answer, &c->best);
    if (c->answer >= 0) {
        c->known = 1;
        record(e, start, c->answer, label);
        return 0;
    }
    if (offload(e, start, label, c->best, &len, err)) return -1;
    c->frame = malloc(len);
    if (c->frame) memcpy(c->frame, e->frame, len), c->len = len, c->known = 1;
    return 0;
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
    ecn_layer_info last;
    ecn_net_layer_info(net, ecn_net_layer_count(net) - 1, &last);
    size_t k = ecn_shape_size(last.out);
    e->classes = (int)(k < ECN_REPLY_MAX_CLASSES ? k : ECN_REPLY_MAX_CLASSES);
    e->slots = calloc((size_t)e->o.window, sizeof *e->slots);
    if (e->o.replay > 0) e->cache = calloc((size_t)e->o.replay, sizeof *e->cache);
    *out = e;
    if (!e->slots || (e->o.replay > 0 && !e->cache)) return ecn_fail(err, "out of memory");
    try_connect(e);
    return 0;
}

const ecn_edge_stats *ecn_edge_get_stats(const ecn_edge *e) { return &e->st; }

void ecn_edge_free(ecn_edge *e)
{
    if (!e) return;
    if (e->fd >= 0) close(e->fd);
    for (int i = 0; e->cache && i < e->o.replay; i++) free(e->cache[i].frame);
    free(e->cache);
    free(e->slots);
    free(e->frame);
    free(e->rbuf);
    free(e->st.latency_ms);
    free(e);
}
