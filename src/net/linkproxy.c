/* linkproxy.c - see linkproxy.h.
 *
 * One thread, one poll loop over: the listening socket, the edge side, the
 * cloud side and a wake-up pipe.  Each direction reads whatever bytes are
 * ready, cuts them into whole messages, asks its link when each arrives (or
 * whether it is lost) and queues it; the poll timeout is the time to the
 * next arrival, at which the message is written to the other side.
 */
#include "linkproxy.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "auth.h"
#include "link.h"
#include "transport.h"

typedef struct held {
    double due;          /* seconds, monotonic */
    size_t len;          /* prefix + body */
    struct held *next;
    unsigned char bytes[];
} held;

/* One direction: bytes read from `from`, messages held on `link`, written to `to`. */
typedef struct direction {
    ecn_link link;
    unsigned char *buf;  /* bytes read, not yet a whole message */
    size_t len, cap;
    held *head, *tail;
    long messages, lost;
    double bytes;
} direction;

struct ecn_linkproxy {
    char host[256];
    int port;
    int listen_fd, edge_fd, cloud_fd;
    int wake[2];         /* written by ecn_linkproxy_stop */
    direction up, down;  /* edge -> cloud, cloud -> edge */
    long connections;
    pthread_t thread;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void drop_held(direction *d)
{
    while (d->head) {
        held *h = d->head;
        d->head = h->next;
        free(h);
    }
    d->tail = NULL;
    d->len = 0;
}

static void close_pair(ecn_linkproxy *p)
{
    if (p->edge_fd >= 0) close(p->edge_fd);
    if (p->cloud_fd >= 0) close(p->cloud_fd);
    p->edge_fd = p->cloud_fd = -1;
    drop_held(&p->up);
    drop_held(&p->down);
}

/* A new edge connection replaces the old one and gets its own cloud connection. */
static void accept_edge(ecn_linkproxy *p)
{
    int fd = accept(p->listen_fd, NULL, NULL);
    if (fd < 0) return;
    close_pair(p);
    p->cloud_fd = ecn_tcp_connect(p->host, p->port, 1000, NULL);
    if (p->cloud_fd < 0) { /* the edge sees the cloud unreachable */
        close(fd);
        return;
    }
    ecn_tcp_nodelay(fd);
    p->edge_fd = fd;
    p->connections++;
}

/* Queue each whole message in d->buf on the link; 0, or -1 on a bad length. */
static int cut_messages(direction *d)
{
    size_t at = 0;
    while (d->len - at >= 4) {
        uint32_t body = ecn_get_u32(d->buf + at);
        if (body > ECN_MSG_MAX) return -1;
        size_t n = 4 + (size_t)body;
        if (d->len - at < n) break;
        double due = ecn_link_send(&d->link, now_s(), n);
        if (due < 0 && ecn_hello_magic(d->buf + at + 4, body)) /* set-up is never lost */
            due = d->link.busy_until + d->link.delay_s;
        if (due < 0) {
            d->lost++;
        } else {
            held *h = malloc(sizeof *h + n);
            if (!h) return -1;
            h->due = due, h->len = n, h->next = NULL;
            memcpy(h->bytes, d->buf + at, n);
            if (d->tail) d->tail->next = h;
            else d->head = h;
            d->tail = h;
        }
        at += n;
    }
    memmove(d->buf, d->buf + at, d->len - at);
    d->len -= at;
    return 0;
}

/* Read what `fd` has ready; 0, or -1 when it closed or failed. */
static int read_side(int fd, direction *d)
{
    if (d->cap - d->len < 65536) {
        size_t cap = d->cap ? d->cap * 2 : 1 << 17;
        unsigned char *b = realloc(d->buf, cap);
        if (!b) return -1;
        d->buf = b, d->cap = cap;
    }
    ssize_t n = recv(fd, d->buf + d->len, d->cap - d->len, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (n <= 0) return -1;
    d->len += (size_t)n;
    return cut_messages(d);
}

/* Write every message whose time has come; -1 when the receiver is gone. */
static int deliver(direction *d, int to, double now)
{
    while (d->head && d->head->due <= now) {
        held *h = d->head;
        if (ecn_send_all(to, h->bytes, h->len)) return -1;
        d->messages++;
        d->bytes += (double)h->len;
        d->head = h->next;
        if (!d->head) d->tail = NULL;
        free(h);
    }
    return 0;
}

static int next_timeout_ms(const ecn_linkproxy *p, double now)
{
    double due = -1;
    if (p->up.head) due = p->up.head->due;
    if (p->down.head && (due < 0 || p->down.head->due < due)) due = p->down.head->due;
    if (due < 0) return -1;
    double ms = (due - now) * 1e3;
    return ms <= 0 ? 0 : (int)ms + 1;
}

static void *proxy_main(void *arg)
{
    ecn_linkproxy *p = arg;
    for (;;) {
        struct pollfd f[4] = {{p->wake[0], POLLIN, 0}, {p->listen_fd, POLLIN, 0},
                              {p->edge_fd, POLLIN, 0}, {p->cloud_fd, POLLIN, 0}};
        int ready = poll(f, 4, next_timeout_ms(p, now_s()));
        if (ready < 0 && errno != EINTR) break;
        if (ready > 0 && f[0].revents) break;
        if (ready > 0 && (f[1].revents & POLLIN)) { /* the old descriptors are gone: poll again */
            accept_edge(p);
            continue;
        }
        int broken = 0;
        if (ready > 0 && p->edge_fd >= 0 && f[2].revents) broken |= read_side(p->edge_fd, &p->up);
        if (ready > 0 && p->cloud_fd >= 0 && f[3].revents) broken |= read_side(p->cloud_fd, &p->down);
        double now = now_s();
        if (!broken && p->edge_fd >= 0)
            broken |= deliver(&p->up, p->cloud_fd, now) | deliver(&p->down, p->edge_fd, now);
        if (broken) close_pair(p);
    }
    close_pair(p);
    return NULL;
}

int ecn_linkproxy_start(const char *cloud_host, int cloud_port, const ecn_link_opts *o, int *port,
                        ecn_linkproxy **out, ecn_err *err)
{
    *out = NULL;
    if (o->rate_mbps < 0 || o->delay_ms < 0 || o->loss < 0 || o->loss > 1)
        return ecn_fail(err, "link: rate and delay must be >= 0 and loss in [0, 1]");
    if (strlen(cloud_host) >= sizeof ((ecn_linkproxy *)0)->host)
        return ecn_fail(err, "link: host name too long");
    ecn_linkproxy *p = calloc(1, sizeof *p);
    if (!p) return ecn_fail(err, "out of memory");
    strcpy(p->host, cloud_host);
    p->port = cloud_port;
    p->edge_fd = p->cloud_fd = -1;
    ecn_link_init(&p->up.link, o->rate_mbps, o->delay_ms, o->loss, o->seed * 2 + 1);
    ecn_link_init(&p->down.link, o->rate_mbps, o->delay_ms, o->loss, o->seed * 2 + 2);
    p->listen_fd = ecn_tcp_listen("127.0.0.1", 0, port, err);
    if (p->listen_fd < 0) {
        free(p);
        return -1;
    }
    if (pipe(p->wake)) {
        close(p->listen_fd);
        free(p);
        return ecn_fail(err, "pipe: %s", strerror(errno));
    }
    if (pthread_create(&p->thread, NULL, proxy_main, p)) {
        close(p->listen_fd), close(p->wake[0]), close(p->wake[1]);
        free(p);
        return ecn_fail(err, "link: cannot start its thread");
    }
    *out = p;
    return 0;
}

void ecn_linkproxy_stop(ecn_linkproxy *p, ecn_link_stats *stats)
{
    if (!p) return;
    ssize_t w = write(p->wake[1], "x", 1);
    (void)w;
    pthread_join(p->thread, NULL);
    if (stats) {
        *stats = (ecn_link_stats){p->up.messages, p->up.lost, p->down.messages, p->down.lost,
                                  p->up.bytes, p->down.bytes, p->connections};
    }
    close(p->listen_fd), close(p->wake[0]), close(p->wake[1]);
    free(p->up.buf);
    free(p->down.buf);
    free(p);
}
