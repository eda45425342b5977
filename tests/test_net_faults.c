/* test_net_faults.c - a live cloud under hostile input, and a cloud crash.
 *
 * Bad input beside a good edge (one `ecnet cloud`, 2 workers):
 *   - an undisturbed `ecnet edge` run over the first IMAGES test images
 *     gives the reference top-1 and offload rate;
 *   - the same edge run again as a child process while this process keeps
 *     sending, until the edge ends: frames with a wrong version, a wrong
 *     model fingerprint, a wrong tensor count, an oversized declared tensor
 *     shape, parameter length and payload length (checksums recomputed, so
 *     that the field itself is refused), a byte too many, the valid frame
 *     truncated at many points (as sent, and resealed with a fresh checksum),
 *     random bytes, and the valid frame with a wrong CRC.  Each, on its own
 *     connection, gets a status-1 reply whose message names the problem and
 *     whose frame id is the frame's (0 under 24 bytes or without the frame
 *     magic), or a closed
 *     connection; all of them in a row on one connection get one such reply
 *     each (or replies until the cloud closes); a length prefix over 64 MiB
 *     and a message cut short by the sender get the connection closed;
 *   - the disturbed edge ends with frames == results, no fallbacks, and the
 *     reference top-1 and offload rate.
 * A crash and a restart: an edge (--deadline-ms 300) streams RESTART_IMAGES
 * images; once it is connected and streaming, the cloud is killed (SIGKILL)
 * and a new one started on the same port.  The edge is paused (SIGSTOP) from
 * just before the kill until the new cloud listens, so that the outcome does
 * not hang on how fast this machine runs the edge; it is never restarted.  It
 * must end with frames == results == RESTART_IMAGES and fallbacks > 0, and
 * the new cloud must have answered frames: its exit line at SIGTERM
 * ("stopped after N frames") has N > 0.
 * A watchdog (alarm) kills every child and fails the test if anything hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ecnet.h"
#include "net/transport.h"
#include "split/frame.h"
#include "testlib.h"
#include "train/data.h"

#define CFG "cfg/fashion-branchy.cfg"
#define WEIGHTS "weights/fashion-branchy.weights"
#define IMAGES 1000
#define RESTART_IMAGES 4000
#define FRAME_ID 77
#define MAX_CASES 64

/* ---- children -------------------------------------------------------------- */

static volatile pid_t children[4] = {-1, -1, -1, -1};

static void watchdog(int sig)
{
    (void)sig;
    for (int i = 0; i < 4; i++)
        if (children[i] > 0) kill(children[i], SIGKILL);
    static const char msg[] = "test_net_faults: watchdog fired: something hung\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void track(pid_t pid, int on)
{
    for (int i = 0; i < 4; i++)
        if (on ? children[i] <= 0 : children[i] == pid) {
            children[i] = on ? pid : -1;
            return;
        }
}

/* Start `ecnet ARGS` with stdout into a pipe (*out) and stderr into err_path
 * (NULL: this process's stderr). */
static pid_t spawn_ecnet(char *const args[], int *out, const char *err_path)
{
    int p[2];
    if (pipe(p)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        int e = err_path ? open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
        if (e >= 0) dup2(e, 2), close(e);
        execv(test_ecnet(), args);
        _exit(127);
    }
    close(p[1]);
    if (pid > 0) track(pid, 1);
    *out = p[0];
    return pid;
}

/* Wait for a child; its wait status, or -1. */
static int reap(pid_t pid)
{
    int status = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    track(pid, 0);
    return status;
}

static void pause_ms(int ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL); }

/* ---- the cloud --------------------------------------------------------------- */

typedef struct cloud {
    pid_t pid;
    int port;
    char err_path[600]; /* its stderr: the exit line */
} cloud;

/* Start a cloud on `port` (0: any) and read "listening on 127.0.0.1:PORT". */
static int cloud_start(cloud *c, const char *dir, int port)
{
    char listen_at[32];
    snprintf(listen_at, sizeof listen_at, "127.0.0.1:%d", port);
    snprintf(c->err_path, sizeof c->err_path, "%s/cloud-%d.err", dir, port);
    char *args[] = {"ecnet", "cloud", CFG, WEIGHTS, "--listen", listen_at, "--print-port", "--workers", "2", NULL};
    int out;
    c->pid = spawn_ecnet(args, &out, c->err_path);
    char line[128] = {0};
    size_t n = 0;
    struct pollfd pf = {out, POLLIN, 0};
    while (n < sizeof line - 1 && !strchr(line, '\n') && poll(&pf, 1, 30000) == 1) {
        ssize_t r = read(out, line + n, sizeof line - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(out);
    const char *colon = strrchr(line, ':');
    c->port = colon && strncmp(line, "listening on 127.0.0.1:", 23) == 0 ? atoi(colon + 1) : -1;
    CHECK(c->port > 0 && (port == 0 || c->port == port), "the cloud did not listen on port %d: '%s'", port, line);
    return c->port > 0 ? 0 : -1;
}

/* SIGTERM; the number of frames it says it answered, or -1. */
static long cloud_stop(cloud *c)
{
    kill(c->pid, SIGTERM);
    int status = reap(c->pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the cloud did not exit 0 on SIGTERM (status %d)", status);
    size_t len = 0;
    char *text = (char *)test_read_file(c->err_path, &len);
    const char *line = text ? strstr(text, "stopped after ") : NULL;
    long answered = line ? atol(line + strlen("stopped after ")) : -1;
    CHECK(answered >= 0, "the cloud printed no \"stopped after N frames\" line: '%s'", text ? text : "");
    free(text);
    return answered;
}

/* ---- the edge ------------------------------------------------------------------ */

typedef struct edge_run {
    pid_t pid;
    int out;
    double top1, offload;
    long frames, results, fallbacks;
} edge_run;

static void edge_start(edge_run *e, int port, int images, int deadline_ms)
{
    char cloud_at[32], n[16], deadline[16];
    snprintf(cloud_at, sizeof cloud_at, "127.0.0.1:%d", port);
    snprintf(n, sizeof n, "%d", images);
    snprintf(deadline, sizeof deadline, "%d", deadline_ms);
    char *args[] = {"ecnet", "edge", CFG, WEIGHTS, "--cloud", cloud_at, "--data", "fashion-mnist", "--images", n,
                    "--deadline-ms", deadline, "--json", NULL};
    *e = (edge_run){.top1 = -1, .offload = -1, .frames = -1, .results = -1, .fallbacks = -1};
    e->pid = spawn_ecnet(args, &e->out, NULL);
}

static double json_number(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(s, k);
    return p ? atof(p + strlen(k)) : -1;
}

/* Wait for the edge and read its JSON line.  0 when it exited 0. */
static int edge_finish(edge_run *e)
{
    char out[2048] = {0};
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(e->out, out + n, sizeof out - 1 - n)) > 0) n += (size_t)r;
    close(e->out);
    int status = reap(e->pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ecnet edge failed (status %d): %s", status, out);
    e->top1 = json_number(out, "top1"), e->offload = json_number(out, "offload_rate");
    e->frames = (long)json_number(out, "frames"), e->results = (long)json_number(out, "results");
    e->fallbacks = (long)json_number(out, "fallbacks");
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- hostile messages ------------------------------------------------------------ */

typedef struct bad_case {
    char name[48];
    unsigned char *msg;
    size_t len;
    const char *expect; /* a phrase the cloud's message must hold, or NULL */
    int failures, closed; /* over the rounds: wrong answers, connections closed instead of a reply */
    char first_failure[640];
} bad_case;

typedef struct case_list {
    bad_case c[MAX_CASES];
    int n;
} case_list;

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The first len bytes of msg; with reseal, the last four become the CRC-32
 * of the rest, as a sender's would be. */
static void add_case(case_list *l, const char *name, const unsigned char *msg, size_t len, int reseal,
                     const char *expect)
{
    if (l->n == MAX_CASES) return;
    bad_case *c = &l->c[l->n++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->msg = malloc(len ? len : 1);
    if (len) memcpy(c->msg, msg, len);
    c->len = len, c->expect = expect;
    if (reseal && len >= 4) put_le(c->msg + len - 4, crc32(0L, c->msg, (uInt)(len - 4)), 4);
}

/* The frame with one little-endian field set to value, resealed. */
static void add_field_case(case_list *l, const char *name, const unsigned char *frame, size_t len, size_t at,
                           int bytes, uint64_t value, const char *expect)
{
    unsigned char *m = malloc(len);
    memcpy(m, frame, len);
    put_le(m + at, value, bytes);
    add_case(l, name, m, len, 1, expect);
    free(m);
}

/* Offsets (docs/wire.md): header 24 bytes; tensor record: layer 24, c 28,
 * h 32, w 36, codec/dpcm/bits/0 40, parameter length P 44, parameters 48,
 * payload length 48+P, payload 52+P. */
static void field_cases(case_list *l, const unsigned char *f, size_t len)
{
    size_t plen = get_le(f + 44, 4);
    add_field_case(l, "wrong version", f, len, 4, 2, ECN_FRAME_VERSION + 1, "version");
    add_field_case(l, "wrong fingerprint", f, len, 8, 8, get_le(f + 8, 8) ^ 1, "different model");
    add_field_case(l, "wrong tensor count", f, len, 6, 2, 2, "tensors");
    add_field_case(l, "oversized tensor shape", f, len, 28, 4, 0x7fffffff, "expects layer");
    add_field_case(l, "oversized parameter length", f, len, 44, 4, 0xfffffff0u, "parameters run past");
    add_field_case(l, "oversized payload length", f, len, 48 + plen, 4, 0xfffffff0u, "payload runs past");
    unsigned char *m = calloc(len + 1, 1);
    memcpy(m, f, len - 4); /* one zero byte more before the checksum */
    add_case(l, "a byte too many", m, len + 1, 1, "unexpected bytes");
    memcpy(m, f, len);
    m[len - 1] ^= 0xff;
    add_case(l, "wrong CRC", m, len, 0, "checksum");
    free(m);
}

static void truncated_cases(case_list *l, const unsigned char *f, size_t len)
{
    char name[48];
    const size_t cut[] = {0, 1, 3, 4, 16, 23, 24, 27, 28, 47, 48, 71, len / 2, len - 5, len - 4, len - 1};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        snprintf(name, sizeof name, "cut to %zu bytes", cut[i]);
        add_case(l, name, f, cut[i], 0, cut[i] < 28 ? "shorter than a header" : "checksum");
    }
    /* Resealed: body bytes of the frame, then a valid CRC of them. */
    size_t plen = get_le(f + 44, 4);
    const size_t body[] = {24, 36, 47, 48, 47 + plen, 48 + plen, 51 + plen, 52 + plen, len / 2, len - 5};
    for (size_t i = 0; i < sizeof body / sizeof body[0]; i++) {
        snprintf(name, sizeof name, "cut to %zu bytes and resealed", body[i] + 4);
        const char *expect = body[i] < 48 ? "ends inside" : body[i] < 48 + plen ? "parameters run past" : "payload runs past";
        unsigned char *m = malloc(body[i] + 4);
        memcpy(m, f, body[i]);
        add_case(l, name, m, body[i] + 4, 1, expect);
        free(m);
    }
}

static void random_cases(case_list *l)
{
    static unsigned char m[70000];
    uint64_t s = 0x9e3779b97f4a7c15ull;
    const size_t sizes[] = {1, 7, 24, 100, 1000, sizeof m};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t k = 0; k < sizes[i]; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            m[k] = (unsigned char)(s >> 56);
        }
        add_case(l, "random bytes", m, sizes[i], 0, NULL);
    }
    memcpy(m, "ECNF", 4); /* past the magic and the version */
    put_le(m + 4, ECN_FRAME_VERSION, 2);
    add_case(l, "random bytes after a header", m, 1000, 0, "checksum");
}

static void free_cases(case_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->c[i].msg);
    free(l);
}

/* ---- asking the cloud ------------------------------------------------------------- */

typedef struct answer {
    int status;
    unsigned long long id;
    char msg[512];
} answer;

static int connect_cloud(int port)
{
    int fd = ecn_tcp_connect("127.0.0.1", port, 2000, NULL);
    struct timeval tv = {10, 0};
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* One reply: 0 with it in *a, 1 when the cloud closed the connection
 * instead, -1 otherwise (a timeout, bytes that are not a reply). */
static int read_answer(int fd, answer *a)
{
    static ecn_reply r;
    unsigned char first, *buf = NULL;
    ssize_t peeked = recv(fd, &first, 1, MSG_PEEK);
    if (peeked == 0 || (peeked < 0 && errno == ECONNRESET)) return 1;
    size_t cap = 0, n = 0;
    int rc = peeked == 1 && ecn_msg_recv(fd, &buf, &cap, &n, NULL) == 0 && ecn_reply_decode(buf, n, &r, NULL) == 0
                 ? 0
                 : -1;
    if (rc == 0) {
        a->status = r.status, a->id = r.frame_id;
        snprintf(a->msg, sizeof a->msg, "%s", r.msg);
    }
    free(buf);
    return rc;
}

/* Record why the cloud's answer to case c is wrong (nothing if it is right).
 * got: read_answer's result; a closed connection is a right answer too. */
static void judge(bad_case *c, int got, const answer *a)
{
    unsigned long long id = c->len >= 24 && memcmp(c->msg, "ECNF", 4) == 0 ? get_le(c->msg + 16, 8) : 0;
    char why[640] = "";
    c->closed += got == 1;
    if (got < 0) snprintf(why, sizeof why, "no reply (no connection, a timeout or not a reply)");
    else if (got == 1) return;
    else if (a->status != ECN_REPLY_BAD_FRAME || !a->msg[0]) snprintf(why, sizeof why, "status %d, '%s'", a->status, a->msg);
    else if (c->expect && !strstr(a->msg, c->expect)) snprintf(why, sizeof why, "'%s' lacks '%s'", a->msg, c->expect);
    else if (a->id != id) snprintf(why, sizeof why, "frame id %llu, want %llu", a->id, id);
    if (!why[0]) return;
    if (c->failures++ == 0) snprintf(c->first_failure, sizeof c->first_failure, "%s", why);
}

/* Each case on a connection of its own. */
static void one_by_one(int port, case_list *l)
{
    for (int i = 0; i < l->n; i++) {
        answer a = {0};
        int fd = connect_cloud(port), got = -1;
        if (fd >= 0 && ecn_msg_send(fd, l->c[i].msg, l->c[i].len) == 0) got = read_answer(fd, &a);
        judge(&l->c[i], got, &a);
        if (fd >= 0) close(fd);
    }
}

/* Every case in a row on one connection: a status-1 reply for each, in any
 * order, or replies up to the point where the cloud closes the connection. */
static int in_a_row(int port, const case_list *l)
{
    int fd = connect_cloud(port), good = 0, got = 0;
    for (int i = 0; fd >= 0 && i < l->n; i++) ecn_msg_send(fd, l->c[i].msg, l->c[i].len);
    for (int i = 0; fd >= 0 && got == 0 && i < l->n; i++) {
        answer a = {0};
        got = read_answer(fd, &a);
        good += got == 0 && a.status == ECN_REPLY_BAD_FRAME && a.msg[0];
    }
    if (fd >= 0) close(fd);
    return got == 1 || good == l->n;
}

/* Bytes the cloud cannot read a message from: it must close the connection.
 * half_close: then end the sending side (a message cut short). */
static int closes(int port, const unsigned char *bytes, size_t len, int half_close)
{
    int fd = connect_cloud(port), closed = 0;
    if (fd < 0) return 0;
    if (ecn_send_all(fd, bytes, len) == 0) {
        if (half_close) shutdown(fd, SHUT_WR);
        char b;
        ssize_t r = recv(fd, &b, 1, 0);
        closed = r == 0 || (r < 0 && errno == ECONNRESET);
    }
    close(fd);
    return closed;
}

/* ---- bad input beside a good edge ------------------------------------------------- */

/* Is the child still running?  (Does not reap it.) */
static int child_running(pid_t pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

/* Every hostile message, again and again, until the edge ends. */
static void barrage(int port, case_list *l, pid_t edge)
{
    static const unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
    static const unsigned char cut_short[14] = {0xe8, 0x03, 0, 0, 'E', 'C', 'N', 'F', 1, 0};
    int rounds = 0, row_failures = 0, huge_failures = 0, short_failures = 0;
    do {
        one_by_one(port, l);
        row_failures += !in_a_row(port, l);
        huge_failures += !closes(port, huge, sizeof huge, 0);
        short_failures += !closes(port, cut_short, sizeof cut_short, 1);
        rounds++;
    } while (child_running(edge));
    int closed = 0;
    for (int i = 0; i < l->n; i++) {
        CHECK(l->c[i].failures == 0, "%s: %d of %d rounds wrong, first: %s", l->c[i].name, l->c[i].failures, rounds,
              l->c[i].first_failure);
        closed += l->c[i].closed;
    }
    CHECK(row_failures == 0, "%d of %d rounds: the cases in a row on one connection were not all refused",
          row_failures, rounds);
    CHECK(huge_failures == 0, "%d of %d rounds: a length over 64 MiB did not close the connection", huge_failures,
          rounds);
    CHECK(short_failures == 0, "%d of %d rounds: a message cut short did not close the connection", short_failures,
          rounds);
    printf("test_net_faults: %d rounds of %d hostile messages while the edge ran (%d refused by closing)\n", rounds,
           l->n + 2, closed);
}

static void bad_input(const unsigned char *frame, size_t len, const char *dir)
{
    cloud c;
    if (cloud_start(&c, dir, 0)) return;
    edge_run ref, busy;
    edge_start(&ref, c.port, IMAGES, 1000);
    edge_finish(&ref);
    CHECK(ref.frames == IMAGES && ref.results == IMAGES && ref.fallbacks == 0 && ref.offload > 0,
          "undisturbed edge: %ld frames, %ld results, %ld fallbacks, offload rate %.3f", ref.frames, ref.results,
          ref.fallbacks, ref.offload);
    case_list *l = calloc(1, sizeof *l);
    field_cases(l, frame, len);
    truncated_cases(l, frame, len);
    random_cases(l);
    edge_start(&busy, c.port, IMAGES, 1000);
    barrage(c.port, l, busy.pid);
    edge_finish(&busy);
    CHECK(busy.frames == IMAGES && busy.results == IMAGES, "edge beside bad input: %ld frames, %ld results",
          busy.frames, busy.results);
    CHECK(busy.fallbacks == 0, "edge beside bad input: %ld fallbacks", busy.fallbacks);
    CHECK(busy.top1 == ref.top1 && busy.offload == ref.offload,
          "edge beside bad input: top-1 %.6f, offload %.6f; undisturbed %.6f, %.6f", busy.top1, busy.offload,
          ref.top1, ref.offload);
    long answered = cloud_stop(&c), offloads = (long)(2 * ref.offload * IMAGES + 0.5);
    CHECK(answered > offloads, "the cloud says it answered %ld frames; the edges alone sent %ld", answered, offloads);
    free_cases(l);
}

/* ---- a crash and a restart ---------------------------------------------------------- */

/* Is a connection to `port` established (/proc/net/tcp)?  -1: cannot tell. */
static int connected(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return -1;
    char line[512];
    unsigned local, state;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, " %*d: %*x:%x %*x:%*x %x", &local, &state) == 2 && local == (unsigned)port && state == 1;
    fclose(f);
    return found;
}

static void wait_for_edge(int port)
{
    int seen = 0;
    for (int i = 0; i < 2000 && (seen = connected(port)) == 0; i++) pause_ms(10);
    if (seen < 0) pause_ms(500); /* no /proc: give it time to connect */
    pause_ms(100);               /* and to stream a while */
}

static void crash_and_restart(const char *dir)
{
    cloud first, second;
    if (cloud_start(&first, dir, 0)) return;
    edge_run e;
    edge_start(&e, first.port, RESTART_IMAGES, 300);
    wait_for_edge(first.port);
    kill(e.pid, SIGSTOP);
    CHECK(child_running(e.pid), "the edge ended before the cloud was killed: it cannot show a restart");
    kill(first.pid, SIGKILL);
    reap(first.pid);
    int restarted = cloud_start(&second, dir, first.port) == 0;
    kill(e.pid, SIGCONT);
    edge_finish(&e);
    CHECK(e.frames == RESTART_IMAGES && e.results == RESTART_IMAGES,
          "edge across a restart: %ld frames, %ld results, want %d of each", e.frames, e.results, RESTART_IMAGES);
    CHECK(e.fallbacks > 0, "edge across a restart: no fallbacks although the cloud was killed");
    if (restarted) {
        long answered = cloud_stop(&second);
        CHECK(answered > 0, "the restarted cloud answered %ld frames: the edge did not resume offloading", answered);
        printf("test_net_faults: across the restart %ld fallbacks, %ld frames answered by the new cloud\n",
               e.fallbacks, answered);
    }
}

/* ---- main ------------------------------------------------------------------------------ */

/* Image 0's frame, as an edge sends it. */
static int good_frame(const ecn_dataset *ds, unsigned char **frame, size_t *len)
{
    ecn_load_opts lo = {.batch = 1, .threads = 1};
    ecn_net *net = NULL;
    ecn_err err;
    size_t cap = 0;
    int zero = 0, rc = -1;
    if (ecn_net_from_cfg(CFG, &lo, &net, &err) == 0 && ecn_net_load_weights(net, WEIGHTS, &err) == 0) {
        float *x = malloc(ecn_shape_size(ecn_net_input_shape(net)) * sizeof *x);
        if (x && ecn_dataset_batch(ds, &zero, 1, ecn_net_input_shape(net), NULL, NULL, x, NULL, 0, &err) == 0) {
            ecn_net_forward_range(net, x, 0, ecn_net_split_layer(net) + 1, NULL, NULL);
            rc = ecn_net_split_encode(net, 0, FRAME_ID, frame, &cap, len, &err);
        }
        free(x);
    }
    CHECK(rc == 0, "cannot encode a frame: %s", err.msg);
    ecn_net_free(net);
    return rc;
}

int main(void)
{
    ecn_dataset ds = {0};
    ecn_err err;
    if (access(CFG, R_OK) || access(WEIGHTS, R_OK)) {
        test_skip(CFG " or " WEIGHTS " missing");
        return test_finish("test_net_faults");
    }
    if (ecn_dataset_open("fashion-mnist", 1, &ds, &err)) {
        test_skip("Fashion-MNIST not available: %s", err.msg);
        return test_finish("test_net_faults");
    }
    signal(SIGALRM, watchdog);
    signal(SIGPIPE, SIG_IGN);
    alarm(150);
    unsigned char *frame = NULL;
    size_t len = 0;
    char *dir = test_tmpdir();
    CHECK(dir != NULL, "no temporary directory");
    if (dir && good_frame(&ds, &frame, &len) == 0) {
        bad_input(frame, len, dir);
        crash_and_restart(dir);
    }
    alarm(0);
    test_rmdir(dir);
    free(dir);
    free(frame);
    ecn_dataset_free(&ds);
    return test_finish("test_net_faults");
}
