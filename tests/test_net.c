/* test_net.c - the edge and the cloud as two processes on loopback.
 *
 * - `ecnet cloud` starts on an ephemeral port (read from --print-port);
 * - `ecnet edge` on the first 500 Fashion-MNIST test images gets exactly the
 *   top-1 and offload rate of the same network run locally in this process
 *   (exits decided as `ecnet eval` decides), with no fallbacks;
 * - garbage, a truncated frame and a frame with a flipped byte each get a
 *   status-1 reply (or a closed connection); an oversized length closes the
 *   connection; the server still serves a following edge run;
 * - SIGTERM makes the cloud exit 0 within seconds;
 * - a cloud batching frames (--max-batch 8, one worker) gives an edge with a
 *   wide window exactly the local top-1 and offload rate, and answers a burst
 *   of frames on one connection with exactly the scores of the local run,
 *   in fewer forward passes than frames.
 * A watchdog (alarm) kills the cloud and fails the test if anything hangs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "ecnet.h"
#include "net/transport.h"
#include "testlib.h"
#include "train/data.h"
#include "train/eval.h"

#define CFG "cfg/fashion-branchy.cfg"
#define WEIGHTS "weights/fashion-branchy.weights"
#define IMAGES 500

static volatile pid_t cloud_pid = -1;

static void watchdog(int sig)
{
    (void)sig;
    if (cloud_pid > 0) kill(cloud_pid, SIGKILL);
    static const char msg[] = "test_net: watchdog fired: something hung\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

/* ---- the reply format on its own ----------------------------------------- */

/* Round trips, and replies whose fields contradict each other refused. */
static void reply_format(void)
{
    static ecn_reply r, back;
    static unsigned char buf[ECN_REPLY_MAX_BYTES];
    r = (ecn_reply){.status = ECN_REPLY_OK, .frame_id = 0x1122334455667788ULL, .classes = 3, .cloud_us = 17};
    r.scores[0] = 0.25f, r.scores[1] = 0.5f, r.scores[2] = 0.25f;
    size_t n = ecn_reply_encode(&r, buf);
    CHECK(n == ecn_reply_size(&r) && ecn_reply_decode(buf, n, &back, NULL) == 0 && back.frame_id == r.frame_id &&
              back.classes == 3 && back.scores[1] == 0.5f && back.cloud_us == 17,
          "an ok reply did not round-trip");
    buf[6] = 9;
    CHECK(ecn_reply_decode(buf, n, &back, NULL) != 0, "a reply with status 9 was accepted");
    buf[6] = ECN_REPLY_BAD_FRAME;
    CHECK(ecn_reply_decode(buf, n, &back, NULL) != 0, "an error reply carrying class scores was accepted");
    r = (ecn_reply){.status = ECN_REPLY_BAD_FRAME, .frame_id = 5};
    snprintf(r.msg, sizeof r.msg, "bad magic");
    n = ecn_reply_encode(&r, buf);
    CHECK(ecn_reply_decode(buf, n, &back, NULL) == 0 && strcmp(back.msg, "bad magic") == 0, "an error reply: %s",
          back.msg);
    buf[6] = ECN_REPLY_OK;
    CHECK(ecn_reply_decode(buf, n, &back, NULL) != 0, "an ok reply without scores, with error text, was accepted");
}

static void kill_cloud(void)
{
    if (cloud_pid <= 0) return;
    kill(cloud_pid, SIGKILL);
    waitpid(cloud_pid, NULL, 0);
    cloud_pid = -1;
}

/* Start the cloud with `workers` and `max_batch` ("1": the default), its
 * stderr into log_path (NULL: ours), and read "listening on 127.0.0.1:PORT"
 * (30 s at most). */
static int start_cloud(const char *workers, const char *max_batch, const char *log_path)
{
    int p[2];
    if (pipe(p)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (log_path && !freopen(log_path, "w", stderr)) _exit(127);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(test_ecnet(), "ecnet", "cloud", CFG, WEIGHTS, "--listen", "127.0.0.1:0", "--print-port", "--workers",
              workers, "--max-batch", max_batch, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    cloud_pid = pid;
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
    CHECK(port > 0, "the cloud did not print its port: '%s'", line);
    return port;
}

typedef struct edge_result {
    double top1, offload;
    long frames, fallbacks;
} edge_result;

static double json_number(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(s, k);
    return p ? atof(p + strlen(k)) : -1;
}

static int run_edge(int port, int window, edge_result *r)
{
    char cmd[1024], out[2048] = {0};
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s edge " CFG " " WEIGHTS " --cloud 127.0.0.1:%d --data fashion-mnist --images %d --json "
             "--window %d",
             test_ecnet(), port, IMAGES, window);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, sizeof out - 1, f);
    int status = pclose(f);
    out[n] = 0;
    CHECK(status == 0, "ecnet edge failed (status %d): %s", status, out);
    r->top1 = json_number(out, "top1"), r->offload = json_number(out, "offload_rate");
    r->frames = (long)json_number(out, "frames"), r->fallbacks = (long)json_number(out, "fallbacks");
    return status == 0 ? 0 : -1;
}

/* ---- the same figures in this process ------------------------------------ */

static int argmax(const float *p, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[b]) b = i;
    return b;
}

/* First exit with entropy below its threshold answers, else the last layer. */
static int local_answer(ecn_net *net, const float *final, int classes, int *offloaded)
{
    for (int k = 0; k < ecn_net_exit_count(net); k++) {
        int c;
        const float *p = ecn_net_exit_output(net, k, &c);
        if ((float)ecn_entropy(p, c) < ecn_net_exit_threshold(net, k)) return argmax(p, c);
    }
    *offloaded += 1;
    return argmax(final, classes);
}

static int local_run(ecn_net *net, const ecn_dataset *ds, double *top1, double *offload)
{
    ecn_err err;
    ecn_layer_info info;
    ecn_net_layer_info(net, ecn_net_layer_count(net) - 1, &info);
    float *x = malloc(ecn_shape_size(ecn_net_input_shape(net)) * sizeof *x);
    int correct = 0, offloaded = 0;
    for (int i = 0; x && i < IMAGES; i++) {
        if (ecn_dataset_batch(ds, &i, 1, ecn_net_input_shape(net), NULL, NULL, x, NULL, 0, &err)) break;
        const float *final = ecn_net_forward(net, x, NULL, NULL);
        correct += local_answer(net, final, (int)ecn_shape_size(info.out), &offloaded) == ds->labels[i];
    }
    free(x);
    *top1 = (double)correct / IMAGES, *offload = (double)offloaded / IMAGES;
    return 0;
}

/* ---- bad input on a raw connection ---------------------------------------- */

/* Sends one message; 1 when answered with status 1 or the connection closed. */
static int refused(int port, const unsigned char *msg, size_t len, int raw_length)
{
    int fd = ecn_tcp_connect("127.0.0.1", port, 2000, NULL);
    if (fd < 0) return 0;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int sent = raw_length ? ecn_send_all(fd, msg, len) : ecn_msg_send(fd, msg, len);
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc = sent ? 1 : ecn_msg_recv(fd, &buf, &cap, &n, NULL), ok = rc == 1;
    static ecn_reply r;
    if (rc == 0) ok = ecn_reply_decode(buf, n, &r, NULL) == 0 && r.status == ECN_REPLY_BAD_FRAME && r.msg[0];
    free(buf);
    close(fd);
    return ok;
}

static void bad_frames(ecn_net *net, const ecn_dataset *ds, int port)
{
    ecn_err err;
    float *x = malloc(ecn_shape_size(ecn_net_input_shape(net)) * sizeof *x);
    int zero = 0;
    unsigned char *frame = NULL, garbage[100];
    size_t cap = 0, len = 0;
    if (!x || ecn_dataset_batch(ds, &zero, 1, ecn_net_input_shape(net), NULL, NULL, x, NULL, 0, &err)) return;
    ecn_net_forward_range(net, x, 0, ecn_net_split_layer(net) + 1, NULL, NULL);
    CHECK(ecn_net_split_encode(net, 0, 7, &frame, &cap, &len, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (unsigned char)(i * 131 + 7);
    CHECK(refused(port, garbage, sizeof garbage, 0), "garbage was not refused");
    CHECK(refused(port, frame, len / 2, 0), "a truncated frame was not refused");
    frame[len / 2] ^= 0x10;
    CHECK(refused(port, frame, len, 0), "a frame with a flipped byte was not refused");
    unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
    CHECK(refused(port, huge, 4, 1), "an oversized length did not close the connection");
    free(frame);
    free(x);
}

/* ---- stopping ------------------------------------------------------------- */

static void stop_cloud(void)
{
    kill(cloud_pid, SIGTERM);
    int status = -1;
    pid_t got = 0;
    for (int i = 0; i < 100 && got == 0; i++) {
        got = waitpid(cloud_pid, &status, WNOHANG);
        if (got == 0) nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    CHECK(got == cloud_pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the cloud did not exit 0 within 5 s of SIGTERM (status %d)", status);
    if (got == cloud_pid) cloud_pid = -1;
}

static void end_to_end(ecn_net *net, const ecn_dataset *ds, double top1, double offload)
{
    int port = start_cloud("2", "1", NULL);
    edge_result r = {0};
    if (port > 0 && run_edge(port, 4, &r) == 0) {
        CHECK(r.frames == IMAGES, "edge answered %ld frames, want %d", r.frames, IMAGES);
        CHECK(r.top1 == top1, "edge top-1 %.6f, local %.6f", r.top1, top1);
        CHECK(r.offload == offload, "edge offload rate %.6f, local %.6f", r.offload, offload);
        CHECK(r.fallbacks == 0, "%ld fallbacks", r.fallbacks);
        CHECK(offload > 0 && offload < 1, "offload rate %.3f: the test needs some of both", offload);
    }
    if (port > 0) {
        bad_frames(net, ds, port);
        edge_result again = {0};
        CHECK(run_edge(port, 4, &again) == 0 && again.top1 == top1 && again.fallbacks == 0,
              "the cloud did not serve well after bad input (top-1 %.6f, %ld fallbacks)", again.top1, again.fallbacks);
        stop_cloud();
    }
    kill_cloud();
}

/* ---- batching ------------------------------------------------------------- */

#define BURST 32

/* Frames of images 0..BURST-1 (ids 1000+i) sent back to back on one
 * connection; each reply must hold exactly the local run's scores. */
static void burst(ecn_net *net, const ecn_dataset *ds, int port)
{
    ecn_err err;
    size_t in = ecn_shape_size(ecn_net_input_shape(net)), cap = 0, len = 0, rcap = 0, rlen = 0;
    float *x = malloc(in * sizeof *x), *want = calloc(BURST * 10, sizeof *want);
    unsigned char *frame = NULL, *buf = NULL;
    static ecn_reply r;
    int fd = ecn_tcp_connect("127.0.0.1", port, 2000, NULL), sent = 0, matched = 0;
    struct timeval tv = {10, 0};
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (int i = 0; fd >= 0 && x && want && i < BURST; i++, sent++) {
        if (ecn_dataset_batch(ds, &i, 1, ecn_net_input_shape(net), NULL, NULL, x, NULL, 0, &err)) break;
        ecn_net_forward_range(net, x, 0, ecn_net_split_layer(net) + 1, NULL, NULL);
        if (ecn_net_split_encode(net, 0, 1000 + (unsigned long long)i, &frame, &cap, &len, &err) ||
            ecn_msg_send(fd, frame, len))
            break;
        memcpy(want + 10 * i, ecn_net_forward(net, x, NULL, NULL), 10 * sizeof *want);
    }
    CHECK(sent == BURST, "sent %d of %d frames", sent, BURST);
    for (int k = 0; k < sent && ecn_msg_recv(fd, &buf, &rcap, &rlen, NULL) == 0; k++) {
        int i = ecn_reply_decode(buf, rlen, &r, NULL) == 0 ? (int)r.frame_id - 1000 : -1;
        int ok = i >= 0 && i < BURST && r.status == ECN_REPLY_OK && r.classes == 10 &&
                 memcmp(r.scores, want + 10 * i, 10 * sizeof(float)) == 0;
        CHECK(ok, "reply %d (frame %llu): not the local scores", k, r.frame_id);
        matched += ok;
    }
    CHECK(matched == BURST, "%d of %d frames got their local scores", matched, BURST);
    if (fd >= 0) close(fd);
    free(x), free(want), free(frame), free(buf);
}

/* The cloud's last line: "stopped after A frames in B batches, ...". */
static void check_batches(const char *log_path)
{
    size_t n = 0;
    char *text = (char *)test_read_file(log_path, &n);
    const char *line = text ? strstr(text, "stopped after") : NULL;
    long frames = 0, batches = 0;
    CHECK(line && sscanf(line, "stopped after %ld frames in %ld batches", &frames, &batches) == 2,
          "no summary from the cloud: %s", text ? text : "(none)");
    CHECK(frames > 0 && batches > 0 && batches < frames, "%ld frames in %ld batches: none were batched", frames,
          batches);
    free(text);
}

static void batched(ecn_net *net, const ecn_dataset *ds, double top1, double offload)
{
    char *dir = test_tmpdir(), log_path[512];
    snprintf(log_path, sizeof log_path, "%s/cloud.log", dir ? dir : "/tmp");
    int port = dir ? start_cloud("1", "8", log_path) : -1;
    edge_result r = {0};
    if (port > 0 && run_edge(port, 16, &r) == 0) {
        CHECK(r.frames == IMAGES && r.fallbacks == 0, "batched: %ld frames, %ld fallbacks", r.frames, r.fallbacks);
        CHECK(r.top1 == top1, "batched: edge top-1 %.6f, local %.6f", r.top1, top1);
        CHECK(r.offload == offload, "batched: edge offload rate %.6f, local %.6f", r.offload, offload);
    }
    if (port > 0) {
        burst(net, ds, port);
        stop_cloud();
        check_batches(log_path);
    }
    kill_cloud();
    if (dir) test_rmdir(dir);
    free(dir);
}

int main(void)
{
    reply_format();
    ecn_load_opts lo = {.batch = 1, .threads = 1};
    ecn_net *net = NULL;
    ecn_dataset ds = {0};
    ecn_err err;
    if (access(CFG, R_OK) || access(WEIGHTS, R_OK)) {
        test_skip(CFG " or " WEIGHTS " missing");
        return test_finish("test_net");
    }
    if (ecn_dataset_open("fashion-mnist", 1, &ds, &err)) {
        test_skip("Fashion-MNIST not available: %s", err.msg);
        return test_finish("test_net");
    }
    signal(SIGALRM, watchdog);
    signal(SIGPIPE, SIG_IGN);
    alarm(300);
    if (ecn_net_from_cfg(CFG, &lo, &net, &err) || ecn_net_load_weights(net, WEIGHTS, &err)) {
        CHECK(0, "%s", err.msg);
    } else {
        double top1, offload;
        ecn_net_fold_batchnorm(net);
        local_run(net, &ds, &top1, &offload);
        end_to_end(net, &ds, top1, offload);
        batched(net, &ds, top1, offload);
    }
    alarm(0);
    kill_cloud();
    ecn_net_free(net);
    ecn_dataset_free(&ds);
    return test_finish("test_net");
}
