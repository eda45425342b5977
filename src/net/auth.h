/* auth.h - a key shared by edges and cloud, and messages that prove they
 * come from a holder of it (HMAC-SHA256, OpenSSL's libcrypto).
 *
 * With a key, a connection starts with two hellos, one each way, sent at
 * once (neither waits for the other's):
 *
 *   offset size  field
 *   0      4     magic "ECNA"
 *   4      2     version 1
 *   6      2     role: 1 edge, 2 cloud
 *   8      16    nonce: fresh random bytes for this connection
 *
 * The edge sends no frame before the cloud's hello has arrived.  From then
 * on every frame (edge to cloud) and every reply (cloud to edge) carries a
 * trailer after its own bytes, inside the same message:
 *
 *   offset    size  field
 *   L-40      8     sequence number, u64 (1, 2, 3, ... each way; gaps allowed)
 *   L-32      32    tag = HMAC-SHA256(key, label || cloud nonce || edge nonce
 *                                          || sequence number || body)
 *
 * where L is the message length, body its first L-40 bytes, and label the 11
 * bytes "ecnet-frame" (to the cloud) or "ecnet-reply" (to the edge).  A
 * receiver accepts a message when the tag matches (compared in constant
 * time) and the sequence number is above the last one it accepted on this
 * connection.  So a message altered on the way, signed with another key,
 * sent again (same connection), or taken from another connection (other
 * nonces), or reflected back (other label) is refused.  Messages are
 * authenticated, not encrypted.  All integers are little-endian.
 * docs/wire.md has the same layouts, and what each side does on a refusal.
 */
#ifndef ECN_NET_AUTH_H
#define ECN_NET_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "../ecnet.h"

#define ECN_KEY_MIN 16        /* shortest key accepted, bytes */
#define ECN_KEY_MAX 1024      /* longest */
#define ECN_NONCE_BYTES 16
#define ECN_TAG_BYTES 32
#define ECN_TRAILER_BYTES 40  /* sequence number + tag */
#define ECN_HELLO_BYTES 24

enum { ECN_ROLE_EDGE = 1, ECN_ROLE_CLOUD = 2 };
/* Which way a message goes: part of what its tag covers. */
enum { ECN_TO_CLOUD = 0, ECN_TO_EDGE = 1 };
/* What ecn_auth_check found. */
enum { ECN_AUTH_OK = 0, ECN_AUTH_SHORT, ECN_AUTH_BAD_TAG, ECN_AUTH_REPLAY, ECN_AUTH_FAILED };

typedef struct ecn_key {
    size_t len;
    unsigned char bytes[ECN_KEY_MAX];
} ecn_key;

/* Read a key file: its raw bytes, ECN_KEY_MIN to ECN_KEY_MAX of them.
 * *readable_by_others (may be NULL) is set when the file's mode lets its
 * group or others read it: the caller should warn. */
int ecn_key_load(const char *path, ecn_key *key, int *readable_by_others, ecn_err *err);
/* Overwrite the key's bytes (before it goes out of scope). */
void ecn_key_wipe(ecn_key *key);

/* HMAC-SHA256 of the concatenation of n pieces.  0, or -1 when libcrypto fails. */
typedef struct ecn_bytes {
    const void *data;
    size_t len;
} ecn_bytes;
int ecn_hmac_sha256(const void *key, size_t key_len, const ecn_bytes *pieces, int n, unsigned char tag[ECN_TAG_BYTES]);

/* 16 bytes from the operating system's random generator; -1 if it fails. */
int ecn_auth_nonce(unsigned char nonce[ECN_NONCE_BYTES]);

/* Hellos.  ecn_hello_decode returns 0 when buf is a version-1 hello from `role`. */
void ecn_hello_encode(int role, const unsigned char nonce[ECN_NONCE_BYTES], unsigned char out[ECN_HELLO_BYTES]);
int ecn_hello_decode(const unsigned char *buf, size_t len, int role, unsigned char nonce[ECN_NONCE_BYTES]);
/* Whether buf starts like a hello (its magic): to recognise a peer that
 * authenticates when this side does not. */
int ecn_hello_magic(const unsigned char *buf, size_t len);

/* One connection's authentication state (one per side).  Sealing and
 * checking change the counters: one thread at a time for each direction. */
typedef struct ecn_auth_conn {
    const ecn_key *key;
    unsigned char cloud_nonce[ECN_NONCE_BYTES], edge_nonce[ECN_NONCE_BYTES];
    uint64_t sent;     /* last sequence number sent */
    uint64_t accepted; /* last sequence number accepted */
} ecn_auth_conn;

/* The trailer for `body`, sent next: the next sequence number and the tag. */
int ecn_auth_seal(ecn_auth_conn *a, int direction, const unsigned char *body, size_t len,
                  unsigned char trailer[ECN_TRAILER_BYTES]);
/* Check a received message (body then trailer).  On ECN_AUTH_OK *body_len
 * is len - ECN_TRAILER_BYTES and the sequence number is remembered.  *seq
 * (may be NULL) gets the message's sequence number when it has one. */
int ecn_auth_check(ecn_auth_conn *a, int direction, const unsigned char *msg, size_t len, size_t *body_len,
                   uint64_t *seq);
/* A phrase for an ecn_auth_check result: "its tag does not match ...". */
const char *ecn_auth_reason(int result);

#endif
