/* auth.c - key files, HMAC-SHA256 through libcrypto, hellos, trailers.
 * See auth.h for the protocol. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "../core/error.h"

/* ---- the key ------------------------------------------------------------- */

/* Up to cap bytes of fd; returns the count, or -1. */
static ssize_t read_up_to(int fd, unsigned char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int ecn_key_load(const char *path, ecn_key *key, int *readable_by_others, ecn_err *err)
{
    unsigned char buf[ECN_KEY_MAX + 1];
    struct stat st;
    key->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ecn_fail(err, "key file %s: %s", path, strerror(errno));
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return ecn_fail(err, "key file %s: not a regular file", path);
    }
    if (readable_by_others) *readable_by_others = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
    ssize_t n = read_up_to(fd, buf, sizeof buf);
    int saved = errno;
    close(fd);
    if (n < 0) return ecn_fail(err, "key file %s: %s", path, strerror(saved));
    if (n < ECN_KEY_MIN || n > ECN_KEY_MAX) {
        OPENSSL_cleanse(buf, sizeof buf);
        return ecn_fail(err, "key file %s: %s%zd bytes; a key is %d to %d bytes (e.g. head -c 32 /dev/urandom > %s)",
                        path, n > ECN_KEY_MAX ? "over " : "", n > ECN_KEY_MAX ? (ssize_t)ECN_KEY_MAX : n,
                        ECN_KEY_MIN, ECN_KEY_MAX, path);
    }
    memcpy(key->bytes, buf, (size_t)n);
    key->len = (size_t)n;
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

void ecn_key_wipe(ecn_key *key)
{
    OPENSSL_cleanse(key, sizeof *key);
}

/* ---- HMAC ---------------------------------------------------------------- */

int ecn_hmac_sha256(const void *key, size_t key_len, const ecn_bytes *pieces, int n, unsigned char tag[ECN_TAG_BYTES])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    size_t out = 0;
    int ok = ctx && EVP_MAC_init(ctx, key, key_len, params);
    for (int i = 0; ok && i < n; i++) ok = EVP_MAC_update(ctx, pieces[i].data, pieces[i].len);
    ok = ok && EVP_MAC_final(ctx, tag, &out, ECN_TAG_BYTES) && out == ECN_TAG_BYTES;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok ? 0 : -1;
}

int ecn_auth_nonce(unsigned char nonce[ECN_NONCE_BYTES])
{
    return RAND_bytes(nonce, ECN_NONCE_BYTES) == 1 ? 0 : -1;
}

/* ---- hellos -------------------------------------------------------------- */

void ecn_hello_encode(int role, const unsigned char nonce[ECN_NONCE_BYTES], unsigned char out[ECN_HELLO_BYTES])
{
    memcpy(out, "ECNA", 4);
    out[4] = 1, out[5] = 0;
    out[6] = (unsigned char)role, out[7] = 0;
    memcpy(out + 8, nonce, ECN_NONCE_BYTES);
}

int ecn_hello_magic(const unsigned char *buf, size_t len)
{
    return len >= 4 && memcmp(buf, "ECNA", 4) == 0;
}

int ecn_hello_decode(const unsigned char *buf, size_t len, int role, unsigned char nonce[ECN_NONCE_BYTES])
{
    if (len != ECN_HELLO_BYTES || !ecn_hello_magic(buf, len) || buf[4] != 1 || buf[5] != 0 || buf[6] != role ||
        buf[7] != 0)
        return -1;
    memcpy(nonce, buf + 8, ECN_NONCE_BYTES);
    return 0;
}

/* ---- trailers ------------------------------------------------------------ */

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The tag of one message: see auth.h for what it covers. */
static int tag_of(const ecn_auth_conn *a, int direction, const unsigned char seq[8], const unsigned char *body,
                  size_t len, unsigned char tag[ECN_TAG_BYTES])
{
    ecn_bytes pieces[] = {
        {direction == ECN_TO_CLOUD ? "ecnet-frame" : "ecnet-reply", 11},
        {a->cloud_nonce, ECN_NONCE_BYTES},
        {a->edge_nonce, ECN_NONCE_BYTES},
        {seq, 8},
        {body, len},
    };
    return ecn_hmac_sha256(a->key->bytes, a->key->len, pieces, 5, tag);
}

int ecn_auth_seal(ecn_auth_conn *a, int direction, const unsigned char *body, size_t len,
                  unsigned char trailer[ECN_TRAILER_BYTES])
{
    put_u64(trailer, a->sent + 1);
    if (tag_of(a, direction, trailer, body, len, trailer + 8)) return -1;
    a->sent++;
    return 0;
}

int ecn_auth_check(ecn_auth_conn *a, int direction, const unsigned char *msg, size_t len, size_t *body_len,
                   uint64_t *seq)
{
    unsigned char want[ECN_TAG_BYTES];
    if (len < ECN_TRAILER_BYTES) return ECN_AUTH_SHORT;
    size_t body = len - ECN_TRAILER_BYTES;
    uint64_t n = get_u64(msg + body);
    if (seq) *seq = n;
    if (tag_of(a, direction, msg + body, msg, body, want)) return ECN_AUTH_FAILED;
    if (CRYPTO_memcmp(want, msg + body + 8, ECN_TAG_BYTES) != 0) return ECN_AUTH_BAD_TAG;
    if (n <= a->accepted) return ECN_AUTH_REPLAY;
    a->accepted = n;
    *body_len = body;
    return ECN_AUTH_OK;
}

const char *ecn_auth_reason(int result)
{
    switch (result) {
    case ECN_AUTH_OK: return "authenticated";
    case ECN_AUTH_SHORT: return "too short to carry an authentication trailer";
    case ECN_AUTH_BAD_TAG: return "its tag does not match (another key, another connection, or altered on the way)";
    case ECN_AUTH_REPLAY: return "replayed (its sequence number is not above the last one accepted)";
    default: return "libcrypto failed to compute a tag";
    }
}
