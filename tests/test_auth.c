/* test_auth.c - the shared key, HMAC trailers and refusals (src/net/auth.h).
 *
 * - HMAC-SHA256 through ecn_hmac_sha256 gives the known answers of RFC 4231
 *   (test cases 1-7), whole and in pieces;
 * - a sealed message checks out; an altered tag, body or sequence number,
 *   another key, other nonces, the other direction, a replay and a message
 *   too short are each refused, and gaps in sequence numbers are allowed;
 * - hellos round-trip; key files: too short, too long, missing, and a mode
 *   others can read;
 * - live, `ecnet cloud --key-file` with `ecnet edge --key-file`: the same
 *   top-1 as a cloud and edge without keys, and no fallbacks; an edge with
 *   another key is refused frame by frame (fallbacks, one result per frame)
 *   while a good edge runs beside it unharmed; an edge without a key, and a
 *   cloud without one, give a clear message instead of a hang; a captured
 *   frame sent again on its connection and on a new one is refused, and the
 *   cloud goes on serving.
 * A watchdog (alarm) kills the clouds and fails the test if anything hangs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "ecnet.h"
#include "net/auth.h"
#include "net/transport.h"
#include "testlib.h"
#include "train/data.h"

#define CFG "cfg/fashion-branchy.cfg"
#define WEIGHTS "weights/fashion-branchy.weights"
#define IMAGES 300

/* ---- HMAC-SHA256: RFC 4231, section 4 ------------------------------------ */

static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return n;
}

typedef struct rfc_case {
    unsigned char key_byte; /* the key: key_len copies of it (0: the bytes 1, 2, 3, ...) */
    size_t key_len;
    const char *data;       /* text, or NULL for data_len copies of data_byte */
    unsigned char data_byte;
    size_t data_len;
    const char *tag_hex;    /* HMAC-SHA-256 (case 5: its first 128 bits) */
} rfc_case;

static const rfc_case rfc4231[] = {
    {0x0b, 20, "Hi There", 0, 0, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {0, 0, "what do ya want for nothing?", 0, 0, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {0xaa, 20, NULL, 0xdd, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {0, 25, NULL, 0xcd, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {0x0c, 20, "Test With Truncation", 0, 0, "a3b6167473100ee06e0c796c2955552b"},
    {0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {0xaa, 131,
     "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
     "hashed before being used by the HMAC algorithm.",
     0, 0, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

static void rfc4231_vectors(void)
{
    for (size_t c = 0; c < sizeof rfc4231 / sizeof *rfc4231; c++) {
        const rfc_case *t = &rfc4231[c];
        unsigned char key[256], data[256], want[32], tag[32], split_tag[32];
        size_t key_len = t->key_len, data_len = t->data ? strlen(t->data) : t->data_len;
        if (c == 1) key_len = 4, memcpy(key, "Jefe", 4);
        else for (size_t i = 0; i < key_len; i++) key[i] = t->key_byte ? t->key_byte : (unsigned char)(i + 1);
        if (t->data) memcpy(data, t->data, data_len);
        else memset(data, t->data_byte, data_len);
        size_t want_len = unhex(t->tag_hex, want);
        ecn_bytes whole = {data, data_len}, pieces[3] = {{data, 3}, {data + 3, 0}, {data + 3, data_len - 3}};
        CHECK(ecn_hmac_sha256(key, key_len, &whole, 1, tag) == 0 && memcmp(tag, want, want_len) == 0,
              "RFC 4231 test case %zu: wrong HMAC-SHA-256", c + 1);
        CHECK(ecn_hmac_sha256(key, key_len, pieces, 3, split_tag) == 0 && memcmp(split_tag, want, want_len) == 0,
              "RFC 4231 test case %zu in pieces: wrong HMAC-SHA-256", c + 1);
    }
}

/* ---- trailers ------------------------------------------------------------- */

static ecn_key test_key(unsigned char seed)
{
    ecn_key k = {.len = 32};
    for (int i = 0; i < 32; i++) k.bytes[i] = (unsigned char)(seed + 37 * i);
    return k;
}

/* Both ends of one connection, as after the hellos. */
static void pair(const ecn_key *k, ecn_auth_conn *edge, ecn_auth_conn *cloud)
{
    *edge = (ecn_auth_conn){.key = k};
    for (int i = 0; i < ECN_NONCE_BYTES; i++) {
        edge->cloud_nonce[i] = (unsigned char)i;
        edge->edge_nonce[i] = (unsigned char)(100 + i);
    }
    *cloud = *edge;
}

/* body || trailer in msg; returns the length. */
static size_t seal(ecn_auth_conn *a, int direction, const char *body, unsigned char *msg)
{
    size_t n = strlen(body);
    memcpy(msg, body, n);
    CHECK(ecn_auth_seal(a, direction, msg, n, msg + n) == 0, "sealing failed");
    return n + ECN_TRAILER_BYTES;
}

static int check(ecn_auth_conn *a, int direction, const unsigned char *msg, size_t len)
{
    size_t body = 0;
    int rc = ecn_auth_check(a, direction, msg, len, &body, NULL);
    if (rc == ECN_AUTH_OK) CHECK(body == len - ECN_TRAILER_BYTES, "body length %zu of %zu", body, len);
    return rc;
}

static void tampering(void)
{
    ecn_key k = test_key(1), other = test_key(2);
    ecn_auth_conn edge, cloud, stranger, elsewhere;
    unsigned char msg[256], bad[256];
    pair(&k, &edge, &cloud);
    size_t len = seal(&edge, ECN_TO_CLOUD, "a frame's bytes", msg);
    size_t body = len - ECN_TRAILER_BYTES;
    size_t flips[] = {0, body - 1, body, body + 7, body + 8, len - 1}; /* body, sequence number, tag */
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        memcpy(bad, msg, len);
        bad[flips[i]] ^= 0x01;
        CHECK(check(&cloud, ECN_TO_CLOUD, bad, len) == ECN_AUTH_BAD_TAG, "a flipped byte at %zu was accepted",
              flips[i]);
    }
    pair(&other, &stranger, &elsewhere);
    CHECK(check(&elsewhere, ECN_TO_CLOUD, msg, len) == ECN_AUTH_BAD_TAG, "another key accepted the message");
    pair(&k, &stranger, &elsewhere);
    elsewhere.cloud_nonce[0] ^= 1;
    CHECK(check(&elsewhere, ECN_TO_CLOUD, msg, len) == ECN_AUTH_BAD_TAG, "another connection accepted the message");
    CHECK(check(&cloud, ECN_TO_EDGE, msg, len) == ECN_AUTH_BAD_TAG, "a frame was accepted as a reply");
    CHECK(check(&cloud, ECN_TO_CLOUD, msg, ECN_TRAILER_BYTES - 1) == ECN_AUTH_SHORT, "a short message passed");
    CHECK(check(&cloud, ECN_TO_CLOUD, msg, len) == ECN_AUTH_OK, "a sealed message was refused");
    CHECK(check(&cloud, ECN_TO_CLOUD, msg, len) == ECN_AUTH_REPLAY, "a replayed message was accepted");
    seal(&edge, ECN_TO_CLOUD, "lost on the way", bad);
    len = seal(&edge, ECN_TO_CLOUD, "the third", msg);
    CHECK(check(&cloud, ECN_TO_CLOUD, msg, len) == ECN_AUTH_OK, "a gap in sequence numbers was refused");
    len = seal(&cloud, ECN_TO_EDGE, "a reply", msg);
    CHECK(check(&edge, ECN_TO_EDGE, msg, len) == ECN_AUTH_OK, "a sealed reply was refused");
    CHECK(check(&edge, ECN_TO_EDGE, msg, len) == ECN_AUTH_REPLAY, "a replayed reply was accepted");
}

static void hellos(void)
{
    unsigned char nonce[ECN_NONCE_BYTES], again[ECN_NONCE_BYTES], got[ECN_NONCE_BYTES], msg[ECN_HELLO_BYTES];
    CHECK(ecn_auth_nonce(nonce) == 0 && ecn_auth_nonce(again) == 0 && memcmp(nonce, again, sizeof nonce),
          "two nonces are the same");
    ecn_hello_encode(ECN_ROLE_CLOUD, nonce, msg);
    CHECK(ecn_hello_decode(msg, sizeof msg, ECN_ROLE_CLOUD, got) == 0 && memcmp(got, nonce, sizeof got) == 0,
          "a hello did not round-trip");
    CHECK(ecn_hello_decode(msg, sizeof msg, ECN_ROLE_EDGE, got) != 0, "a cloud's hello passed as an edge's");
    CHECK(ecn_hello_decode(msg, sizeof msg - 1, ECN_ROLE_CLOUD, got) != 0, "a short hello passed");
}

/* ---- key files ------------------------------------------------------------ */

static void write_key(const char *path, size_t len, mode_t mode)
{
    unsigned char bytes[2048];
    for (size_t i = 0; i < len; i++) bytes[i] = (unsigned char)(i * 7 + 3);
    CHECK(test_write_file(path, bytes, len) == 0 && chmod(path, mode) == 0, "cannot write %s", path);
}

static void key_files(const char *dir)
{
    char path[512];
    ecn_key key;
    ecn_err err;
    int loose = -1;
    snprintf(path, sizeof path, "%s/short.key", dir);
    write_key(path, ECN_KEY_MIN - 1, 0600);
    CHECK(ecn_key_load(path, &key, &loose, &err) != 0 && strstr(err.msg, path) && strstr(err.msg, "15 bytes"),
          "a 15-byte key: '%s'", err.msg);
    snprintf(path, sizeof path, "%s/long.key", dir);
    write_key(path, ECN_KEY_MAX + 1, 0600);
    CHECK(ecn_key_load(path, &key, &loose, &err) != 0 && strstr(err.msg, path), "an over-long key: '%s'", err.msg);
    snprintf(path, sizeof path, "%s/missing.key", dir);
    CHECK(ecn_key_load(path, &key, &loose, &err) != 0 && strstr(err.msg, path), "a missing key: '%s'", err.msg);
    snprintf(path, sizeof path, "%s/open.key", dir);
    write_key(path, 32, 0644);
    CHECK(ecn_key_load(path, &key, &loose, &err) == 0 && key.len == 32 && loose == 1,
          "a 0644 key file: not loaded, or not flagged (%d)", loose);
    snprintf(path, sizeof path, "%s/good.key", dir);
    write_key(path, ECN_KEY_MIN, 0600);
    CHECK(ecn_key_load(path, &key, &loose, &err) == 0 && key.len == ECN_KEY_MIN && key.bytes[1] == 10 && loose == 0,
          "a 0600 16-byte key file");
    ecn_key_wipe(&key);
    CHECK(key.len == 0 && key.bytes[1] == 0, "the key was not wiped");
}

/* ---- processes -------------------------------------------------------------- */

#define MAX_CLOUDS 2
static volatile pid_t clouds[MAX_CLOUDS] = {-1, -1};

static void watchdog(int sig)
{
    (void)sig;
    for (int i = 0; i < MAX_CLOUDS; i++)
        if (clouds[i] > 0) kill(clouds[i], SIGKILL);
    static const char msg[] = "test_auth: watchdog fired: something hung\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

/* Cloud i, with key_file when not NULL; returns its port, or -1. */
static int start_cloud(int i, const char *key_file, const char *log_path)
{
    int p[2];
    if (pipe(p)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        FILE *log = freopen(log_path, "w", stderr);
        (void)log;
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(test_ecnet(), "ecnet", "cloud", CFG, WEIGHTS, "--listen", "127.0.0.1:0", "--print-port", "--workers",
              "2", key_file ? "--key-file" : (char *)NULL, key_file, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    clouds[i] = pid;
    char line[128] = {0};
    size_t n = 0;
    struct pollfd pf = {p[0], POLLIN, 0};
    while (n < sizeof line - 1 && !strchr(line, '\n') && poll(&pf, 1, 30000) == 1) {
        ssize_t r = read(p[0], line + n, sizeof line - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(p[0]);
    const char *colon = strrchr(line, ':');
    int port = colon && strncmp(line, "listening on 127.0.0.1:", 23) == 0 ? atoi(colon + 1) : -1;
    CHECK(port > 0, "cloud %d did not print its port: '%s'", i, line);
    return port;
}

static void stop_cloud(int i)
{
    if (clouds[i] <= 0) return;
    kill(clouds[i], SIGTERM);
    int status = -1;
    pid_t got = 0;
    for (int t = 0; t < 100 && got == 0; t++) {
        got = waitpid(clouds[i], &status, WNOHANG);
        if (got == 0) nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    CHECK(got == clouds[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "cloud %d did not exit 0 within 5 s of SIGTERM (status %d)", i, status);
    if (got != clouds[i]) kill(clouds[i], SIGKILL), waitpid(clouds[i], NULL, 0);
    clouds[i] = -1;
}

typedef struct edge_run {
    FILE *pipe;
    char out[4096];           /* stdout and stderr together */
    double top1;
    long frames, results, offloaded, fallbacks;
} edge_run;

/* Start `ecnet edge` (key_file NULL: none); edge_wait reads what it printed. */
static void edge_start(edge_run *r, int port, const char *key_file)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s edge " CFG " " WEIGHTS " --cloud 127.0.0.1:%d --data fashion-mnist --images %d --json "
             "%s%s 2>&1",
             test_ecnet(), port, IMAGES, key_file ? "--key-file " : "", key_file ? key_file : "");
    memset(r, 0, sizeof *r);
    r->pipe = popen(cmd, "r");
    CHECK(r->pipe != NULL, "cannot run %s", cmd);
}

static double json_number(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(s, k);
    return p ? atof(p + strlen(k)) : -1;
}

static int edge_wait(edge_run *r)
{
    if (!r->pipe) return -1;
    size_t n = fread(r->out, 1, sizeof r->out - 1, r->pipe);
    int status = pclose(r->pipe);
    r->out[n] = 0;
    CHECK(status == 0, "ecnet edge failed (status %d): %s", status, r->out);
    r->top1 = json_number(r->out, "top1"), r->frames = (long)json_number(r->out, "frames");
    r->results = (long)json_number(r->out, "results"), r->offloaded = (long)json_number(r->out, "offloaded");
    r->fallbacks = (long)json_number(r->out, "fallbacks");
    CHECK(r->frames == IMAGES && r->results == r->frames, "%ld frames, %ld results", r->frames, r->results);
    return status == 0 ? 0 : -1;
}

static int run_edge(edge_run *r, int port, const char *key_file)
{
    edge_start(r, port, key_file);
    return edge_wait(r);
}

/* ---- a hand-made edge: hellos, sealed frames, replays ---------------------- */

/* Connect to the cloud and exchange hellos; -1 when that fails. */
static int auth_connect(int port, const ecn_key *key, ecn_auth_conn *a)
{
    unsigned char hello[ECN_HELLO_BYTES], *buf = NULL;
    size_t cap = 0, len = 0;
    int fd = ecn_tcp_connect("127.0.0.1", port, 2000, NULL);
    struct timeval tv = {10, 0};
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    *a = (ecn_auth_conn){.key = key};
    ecn_auth_nonce(a->edge_nonce);
    ecn_hello_encode(ECN_ROLE_EDGE, a->edge_nonce, hello);
    int ok = ecn_msg_send(fd, hello, sizeof hello) == 0 && ecn_msg_recv(fd, &buf, &cap, &len, NULL) == 0 &&
             ecn_hello_decode(buf, len, ECN_ROLE_CLOUD, a->cloud_nonce) == 0;
    free(buf);
    CHECK(ok, "no hello from the cloud");
    if (!ok) close(fd), fd = -1;
    return fd;
}

/* Send msg and read one reply: its status when authentic (or an unsigned
 * refusal), -1 otherwise. */
static int exchange(int fd, ecn_auth_conn *a, const unsigned char *msg, size_t len, unsigned long long id)
{
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0, body = 0;
    static ecn_reply r;
    int status = -1;
    if (ecn_msg_send(fd, msg, len) == 0 && ecn_msg_recv(fd, &buf, &cap, &n, NULL) == 0) {
        if (n >= 8 && buf[6] == ECN_REPLY_UNAUTHENTICATED) body = n;
        else if (ecn_auth_check(a, ECN_TO_EDGE, buf, n, &body, NULL) != ECN_AUTH_OK) body = 0;
        if (body && ecn_reply_decode(buf, body, &r, NULL) == 0 && r.frame_id == id) status = r.status;
        if (status == ECN_REPLY_OK) CHECK(r.classes == 10, "a reply with %d classes", r.classes);
    }
    free(buf);
    return status;
}

/* frame || trailer for connection a, into *msg. */
static size_t seal_frame(ecn_auth_conn *a, const unsigned char *frame, size_t len, unsigned char **msg)
{
    *msg = malloc(len + ECN_TRAILER_BYTES);
    if (!*msg) return 0;
    memcpy(*msg, frame, len);
    CHECK(ecn_auth_seal(a, ECN_TO_CLOUD, *msg, len, *msg + len) == 0, "sealing failed");
    return len + ECN_TRAILER_BYTES;
}

/* Image 0's frame with the given id, as the edge would send it. */
static size_t make_frame(ecn_net *net, const ecn_dataset *ds, unsigned long long id, unsigned char **frame)
{
    ecn_err err;
    size_t cap = 0, len = 0;
    int zero = 0;
    float *x = malloc(ecn_shape_size(ecn_net_input_shape(net)) * sizeof *x);
    *frame = NULL;
    if (x && ecn_dataset_batch(ds, &zero, 1, ecn_net_input_shape(net), NULL, NULL, x, NULL, 0, &err) == 0) {
        ecn_net_forward_range(net, x, 0, ecn_net_split_layer(net) + 1, NULL, NULL);
        CHECK(ecn_net_split_encode(net, 0, id, frame, &cap, &len, &err) == 0, "%s", err.msg);
    }
    free(x);
    return len;
}

static void replays(int port, const ecn_key *key, ecn_net *net, const ecn_dataset *ds)
{
    ecn_auth_conn a, b;
    unsigned char *frame = NULL, *captured = NULL, *next = NULL;
    size_t flen = make_frame(net, ds, 77, &frame);
    int fd = auth_connect(port, key, &a);
    if (fd < 0 || flen == 0) return;
    size_t len = seal_frame(&a, frame, flen, &captured);
    CHECK(exchange(fd, &a, captured, len, 77) == ECN_REPLY_OK, "a sealed frame was not answered");
    CHECK(exchange(fd, &a, captured, len, 77) == ECN_REPLY_UNAUTHENTICATED, "a replay on its connection passed");
    len = seal_frame(&a, frame, flen, &next);
    CHECK(exchange(fd, &a, next, len, 77) == ECN_REPLY_OK, "the connection no longer serves after a replay");
    int fd2 = auth_connect(port, key, &b);
    CHECK(fd2 >= 0 && exchange(fd2, &b, captured, len, 77) == ECN_REPLY_UNAUTHENTICATED,
          "a frame of another connection passed");
    free(next);
    len = seal_frame(&b, frame, flen, &next);
    CHECK(fd2 >= 0 && exchange(fd2, &b, next, len, 77) == ECN_REPLY_OK, "the new connection does not serve");
    if (fd2 >= 0) close(fd2);
    close(fd);
    free(frame);
    free(captured);
    free(next);
}

/* ---- live ------------------------------------------------------------------ */

static void mismatches(int keyed, int plain, const char *key, const char *other)
{
    edge_run good, wrong, none, lone;
    edge_start(&wrong, keyed, other);
    edge_start(&good, keyed, key);
    if (edge_wait(&good) == 0)
        CHECK(good.fallbacks == 0, "a good edge beside a bad one: %ld fallbacks", good.fallbacks);
    if (edge_wait(&wrong) == 0)
        CHECK(wrong.offloaded > 0 && wrong.fallbacks == wrong.offloaded && strstr(wrong.out, "refused"),
              "an edge with another key: %ld of %ld offloads fell back: %s", wrong.fallbacks, wrong.offloaded,
              wrong.out);
    if (run_edge(&none, keyed, NULL) == 0)
        CHECK(none.fallbacks == none.offloaded && strstr(none.out, "--key-file"),
              "an edge without a key: %ld of %ld fell back: %s", none.fallbacks, none.offloaded, none.out);
    if (run_edge(&lone, plain, key) == 0)
        CHECK(lone.fallbacks == lone.offloaded && strstr(lone.out, "--key-file"),
              "a cloud without a key: %ld of %ld fell back: %s", lone.fallbacks, lone.offloaded, lone.out);
}

static void live(const char *dir, ecn_net *net, const ecn_dataset *ds)
{
    char key[512], other[512], log[512];
    snprintf(key, sizeof key, "%s/edge-cloud.key", dir);
    snprintf(other, sizeof other, "%s/other.key", dir);
    snprintf(log, sizeof log, "%s/cloud.log", dir);
    write_key(key, 32, 0600);
    write_key(other, 33, 0600); /* another key: one byte longer */
    int plain = start_cloud(0, NULL, "/dev/null"), keyed = start_cloud(1, key, log);
    edge_run base, authed;
    if (plain > 0 && keyed > 0 && run_edge(&base, plain, NULL) == 0 && run_edge(&authed, keyed, key) == 0) {
        CHECK(authed.top1 == base.top1 && authed.offloaded == base.offloaded,
              "with a key: top-1 %.6f, %ld offloaded; without: %.6f, %ld", authed.top1, authed.offloaded,
              base.top1, base.offloaded);
        CHECK(authed.fallbacks == 0 && base.fallbacks == 0 && base.offloaded > 0,
              "fallbacks: %ld with a key, %ld without", authed.fallbacks, base.fallbacks);
        mismatches(keyed, plain, key, other);
        ecn_key k;
        CHECK(ecn_key_load(key, &k, NULL, NULL) == 0, "cannot load %s", key);
        replays(keyed, &k, net, ds);
        CHECK(run_edge(&authed, keyed, key) == 0 && authed.top1 == base.top1 && authed.fallbacks == 0,
              "the cloud did not serve well after refusals (top-1 %.6f, %ld fallbacks)", authed.top1,
              authed.fallbacks);
    }
    stop_cloud(0);
    stop_cloud(1);
    size_t n = 0;
    char *text = (char *)test_read_file(log, &n);
    CHECK(text && strstr(text, "127.0.0.1:") && strstr(text, "refused a frame: replayed"),
          "the cloud's log does not name the peer and the replay: %s", text ? text : "(none)");
    free(text);
}

int main(void)
{
    rfc4231_vectors();
    tampering();
    hellos();
    char *dir = test_tmpdir();
    CHECK(dir != NULL, "no temporary directory");
    if (dir) key_files(dir);
    ecn_load_opts lo = {.batch = 1, .threads = 1};
    ecn_net *net = NULL;
    ecn_dataset ds = {0};
    ecn_err err;
    if (access(CFG, R_OK) || access(WEIGHTS, R_OK)) {
        test_skip(CFG " or " WEIGHTS " missing: no live test");
    } else if (ecn_dataset_open("fashion-mnist", 1, &ds, &err)) {
        test_skip("Fashion-MNIST not available: %s", err.msg);
    } else if (ecn_net_from_cfg(CFG, &lo, &net, &err) || ecn_net_load_weights(net, WEIGHTS, &err)) {
        CHECK(0, "%s", err.msg);
    } else if (dir) {
        ecn_net_fold_batchnorm(net);
        signal(SIGALRM, watchdog);
        signal(SIGPIPE, SIG_IGN);
        alarm(300);
        live(dir, net, &ds);
        alarm(0);
    }
    ecn_net_free(net);
    ecn_dataset_free(&ds);
    if (dir) test_rmdir(dir);
    free(dir);
    return test_finish("test_auth");
}
