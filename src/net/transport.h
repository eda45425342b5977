/* transport.h - length-prefixed messages over TCP, and the cloud's reply.
 *
 * A message on the wire is a u32 little-endian length L, then L bytes.  A
 * length above ECN_MSG_MAX is refused (the receiver closes the connection:
 * it can no longer find the next message).  The edge sends frames
 * (docs/wire.md) as messages; the cloud answers each with a reply message:
 *
 *   offset size  field
 *   0      4     magic "ECNR"
 *   4      2     version 1
 *   6      2     status: 0 ok, 1 bad frame; 2 busy is reserved (never sent yet:
 *                 a full queue applies backpressure instead); 3 unauthenticated
 *                 (a cloud with a key refused the frame: auth.h)
 *   8      8     frame id (the frame's; 0 when the frame was too short to hold one)
 *   16     4     number of classes K (0 when status != 0)
 *   20     4K    class scores, float32
 *   20+4K  4     cloud microseconds (decode + tail layers)
 *   24+4K  4     error text length E (0 when status == 0)
 *   28+4K  E     error text (UTF-8, no terminating zero)
 *
 * All integers little-endian.  With a shared key (auth.h) the connection
 * starts with hellos, and frames and replies carry a trailer after these
 * bytes, inside the same message; an unauthenticated reply (status 3)
 * never does.
 */
#ifndef ECN_NET_TRANSPORT_H
#define ECN_NET_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "../ecnet.h"

#define ECN_MSG_MAX (64u << 20)  /* largest message accepted: 64 MiB */
#define ECN_REPLY_MAX_CLASSES 4096
#define ECN_REPLY_MAX_TEXT 512     /* error text, terminating zero included */

enum { ECN_REPLY_OK = 0, ECN_REPLY_BAD_FRAME = 1, ECN_REPLY_BUSY = 2, ECN_REPLY_UNAUTHENTICATED = 3 };

/* "127.0.0.1:8000" -> host "127.0.0.1", port 8000. */
int ecn_parse_hostport(const char *s, char *host, size_t host_cap, int *port, ecn_err *err);

/* Listen on host:port (port 0: the kernel picks one); *bound gets the port.
 * Returns the socket, or -1. */
int ecn_tcp_listen(const char *host, int port, int *bound, ecn_err *err);
/* Connect within timeout_ms.  Returns a blocking socket with TCP_NODELAY, or -1. */
int ecn_tcp_connect(const char *host, int port, int timeout_ms, ecn_err *err);

/* Send small messages at once (no Nagle delay). */
void ecn_tcp_nodelay(int fd);

/* Whole-buffer I/O, retrying on partial transfers and EINTR.
 * 0 on success, -1 on error or end of stream.  Sending never raises SIGPIPE. */
int ecn_send_all(int fd, const void *buf, size_t len);
int ecn_recv_all(int fd, void *buf, size_t len);

/* One message: the length prefix, then the bytes. */
int ecn_msg_send(int fd, const void *buf, size_t len);
/* One message made of two pieces (a body and its trailer), sent together. */
int ecn_msg_send2(int fd, const void *a, size_t a_len, const void *b, size_t b_len);
/* Receive one message into *buf (grown as needed).  Returns 0, 1 at a clean
 * end of stream (before a length), -1 on error or an oversized length. */
int ecn_msg_recv(int fd, unsigned char **buf, size_t *cap, size_t *len, ecn_err *err);

typedef struct ecn_reply {
    int status;
    unsigned long long frame_id;
    int classes;
    float scores[ECN_REPLY_MAX_CLASSES];
    uint32_t cloud_us;
    char msg[ECN_REPLY_MAX_TEXT];
} ecn_reply;

/* The most bytes a reply takes. */
#define ECN_REPLY_MAX_BYTES (28 + 4 * ECN_REPLY_MAX_CLASSES + ECN_REPLY_MAX_TEXT)

/* Serialise into buf (at least ecn_reply_size bytes); returns the length. */
size_t ecn_reply_size(const ecn_reply *r);
size_t ecn_reply_encode(const ecn_reply *r, unsigned char *buf);
int ecn_reply_decode(const unsigned char *buf, size_t len, ecn_reply *r, ecn_err *err);

/* Little-endian helpers, shared with the edge and cloud. */
static inline uint32_t ecn_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void ecn_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

#endif
