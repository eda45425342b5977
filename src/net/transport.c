/* transport.c - TCP sockets, length-prefixed messages, the reply format.
 * See transport.h for the layouts. */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../core/error.h"

int ecn_parse_hostport(const char *s, char *host, size_t host_cap, int *port, ecn_err *err)
{
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= host_cap || colon == s)
        return ecn_fail(err, "'%s': expected HOST:PORT, e.g. 127.0.0.1:9000", s);
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535) return ecn_fail(err, "'%s': bad port", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (int)p;
    return 0;
}

static int make_addr(const char *host, int port, struct sockaddr_in *a, ecn_err *err)
{
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return ecn_fail(err, "'%s': not an IPv4 address", host);
    return 0;
}

int ecn_tcp_listen(const char *host, int port, int *bound, ecn_err *err)
{
    struct sockaddr_in a;
    if (make_addr(host, port, &a, err)) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) return ecn_fail(err, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t n = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64) || getsockname(fd, (struct sockaddr *)&a, &n)) {
        ecn_fail(err, "listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    if (bound) *bound = ntohs(a.sin_port);
    return fd;
}

/* Non-blocking connect, then wait for it with poll. */
int ecn_tcp_connect(const char *host, int port, int timeout_ms, ecn_err *err)
{
    struct sockaddr_in a;
    if (make_addr(host, port, &a, err)) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, soerr = 0;
    if (fd < 0) return ecn_fail(err, "socket: %s", strerror(errno));
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc && errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        socklen_t n = sizeof soerr;
        rc = poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &n) == 0 && !soerr ? 0 : -1;
        if (rc && !soerr) soerr = ETIMEDOUT;
    } else if (rc) {
        soerr = errno;
    }
    if (rc) {
        ecn_fail(err, "connect to %s:%d: %s", host, port, strerror(soerr));
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, flags);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int ecn_send_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

int ecn_recv_all(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* Drop `sent` bytes from the front of m's iovecs. */
static void advance(struct msghdr *m, size_t sent)
{
    while (m->msg_iovlen > 0 && sent >= m->msg_iov->iov_len) {
        sent -= m->msg_iov->iov_len;
        m->msg_iov++, m->msg_iovlen--;
    }
    if (m->msg_iovlen > 0) {
        m->msg_iov->iov_base = (unsigned char *)m->msg_iov->iov_base + sent;
        m->msg_iov->iov_len -= sent;
    }
}

/* Length and bytes in one sendmsg where possible: two small sends would
 * meet Nagle's algorithm and the peer's delayed ACK (tens of ms). */
int ecn_msg_send2(int fd, const void *a, size_t a_len, const void *b, size_t b_len)
{
    unsigned char hdr[4];
    if (a_len > ECN_MSG_MAX || b_len > ECN_MSG_MAX - a_len) return -1;
    ecn_put_u32(hdr, (uint32_t)(a_len + b_len));
    struct iovec iov[3] = {{hdr, 4}, {(void *)a, a_len}, {(void *)b, b_len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
    while (m.msg_iovlen > 0) {
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        advance(&m, (size_t)n);
    }
    return 0;
}

int ecn_msg_send(int fd, const void *buf, size_t len)
{
    return ecn_msg_send2(fd, buf, len, NULL, 0);
}

void ecn_tcp_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int ecn_msg_recv(int fd, unsigned char **buf, size_t *cap, size_t *len, ecn_err *err)
{
    unsigned char hdr[4];
    ssize_t first;
    do first = recv(fd, hdr, 1, 0); while (first < 0 && errno == EINTR);
    if (first == 0) return 1;
    if (first < 0 || ecn_recv_all(fd, hdr + 1, 3)) return ecn_fail(err, "connection lost");
    uint32_t n = ecn_get_u32(hdr);
    if (n > ECN_MSG_MAX) return ecn_fail(err, "message of %u bytes is over the %u-byte limit", n, ECN_MSG_MAX);
    if (n > *cap || !*buf) {
        unsigned char *b = realloc(*buf, n ? n : 1);
        if (!b) return ecn_fail(err, "out of memory for a %u-byte message", n);
        *buf = b, *cap = n ? n : 1;
    }
    if (ecn_recv_all(fd, *buf, n)) return ecn_fail(err, "connection lost inside a message");
    *len = n;
    return 0;
}

/* ---- the reply --------------------------------------------------------- */

static size_t msg_len(const ecn_reply *r)
{
    return r->status ? strnlen(r->msg, sizeof r->msg) : 0;
}

size_t ecn_reply_size(const ecn_reply *r)
{
    return 28 + 4 * (size_t)r->classes + msg_len(r);
}

size_t ecn_reply_encode(const ecn_reply *r, unsigned char *buf)
{
    memcpy(buf, "ECNR", 4);
    buf[4] = 1, buf[5] = 0;
    buf[6] = (unsigned char)r->status, buf[7] = 0;
    ecn_put_u32(buf + 8, (uint32_t)r->frame_id);
    ecn_put_u32(buf + 12, (uint32_t)(r->frame_id >> 32));
    ecn_put_u32(buf + 16, (uint32_t)r->classes);
    unsigned char *p = buf + 20;
    for (int i = 0; i < r->classes; i++, p += 4) {
        uint32_t u;
        memcpy(&u, &r->scores[i], 4);
        ecn_put_u32(p, u);
    }
    ecn_put_u32(p, r->cloud_us);
    size_t e = msg_len(r);
    ecn_put_u32(p + 4, (uint32_t)e);
    memcpy(p + 8, r->msg, e);
    return (size_t)(p + 8 + e - buf);
}

int ecn_reply_decode(const unsigned char *buf, size_t len, ecn_reply *r, ecn_err *err)
{
    if (len < 28 || memcmp(buf, "ECNR", 4) || buf[4] != 1 || buf[5] != 0)
        return ecn_fail(err, "not a version-1 ECNR reply (%zu bytes)", len);
    r->status = buf[6] | buf[7] << 8;
    if (r->status > ECN_REPLY_UNAUTHENTICATED) return ecn_fail(err, "reply: unknown status %d", r->status);
    r->frame_id = ecn_get_u32(buf + 8) | (unsigned long long)ecn_get_u32(buf + 12) << 32;
    uint32_t k = ecn_get_u32(buf + 16);
    if (k > ECN_REPLY_MAX_CLASSES || len < 28 + 4 * (size_t)k) return ecn_fail(err, "reply: bad class count %u", k);
    r->classes = (int)k;
    const unsigned char *p = buf + 20;
    for (uint32_t i = 0; i < k; i++, p += 4) {
        uint32_t u = ecn_get_u32(p);
        memcpy(&r->scores[i], &u, 4);
    }
    r->cloud_us = ecn_get_u32(p);
    uint32_t e = ecn_get_u32(p + 4);
    if (len != 28 + 4 * (size_t)k + e) return ecn_fail(err, "reply: length %zu does not match its fields", len);
    if (r->status == ECN_REPLY_OK ? e != 0 || k == 0 : k != 0)
        return ecn_fail(err, "reply: status %d with %u classes and %u bytes of error text", r->status, k, e);
    if (e >= ECN_REPLY_MAX_TEXT) return ecn_fail(err, "reply: %u bytes of error text, at most %d", e, ECN_REPLY_MAX_TEXT - 1);
    memcpy(r->msg, p + 8, e);
    r->msg[e] = 0;
    return 0;
}
