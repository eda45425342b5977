/* test_linkproxy.c - the emulated link between an edge and its cloud.
 *
 * In process, against a message echo server on loopback:
 * - without loss every message comes back whole and in order, and a round
 *   trip takes at least twice the one-way delay plus the time the bytes
 *   occupy the link both ways (the proxy may only hold messages back);
 * - with loss P, of many messages some are lost and the rest come back in
 *   order; the counts add up (sent up = delivered up + lost up, and so on);
 * - a proxy whose cloud does not listen closes the edge's connection.
 * Then `ecnet edge` against a live `ecnet cloud`:
 * - an unlimited-rate link changes nothing (same top-1, no fallbacks);
 * - a link losing every message, or delaying beyond the deadline, turns
 *   every offload into a fallback, and every frame still gets one result.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/linkproxy.h"
#include "net/transport.h"
#include "testlib.h"

/* ---- an echo server: answers each message with the same bytes ------------ */

typedef struct echo {
    int listen_fd, port;
    pthread_t thread;
} echo;

static void *echo_main(void *arg)
{
    echo *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    while (fd >= 0 && ecn_msg_recv(fd, &buf, &cap, &len, NULL) == 0)
        if (ecn_msg_send(fd, buf, len)) break;
    if (fd >= 0) close(fd);
    free(buf);
    return NULL;
}

static int echo_start(echo *s)
{
    s->listen_fd = ecn_tcp_listen("127.0.0.1", 0, &s->port, NULL);
    return s->listen_fd < 0 || pthread_create(&s->thread, NULL, echo_main, s) ? -1 : 0;
}

static void echo_stop(echo *s)
{
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- in process ------------------------------------------------------------ */

/* Send messages 0..n-1 (message k: 1000 bytes, each byte k % 251), one at a
 * time, and read back what arrives within `wait_ms` after each. */
static void exchange(int fd, int n, int wait_ms, int *received, int *in_order, double *first_rtt)
{
    unsigned char msg[1000], *buf = NULL;
    size_t cap = 0, len = 0;
    int last = -1;
    *received = 0, *in_order = 1;
    struct timeval tv = {0, wait_ms * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (int k = 0; k < n; k++) {
        memset(msg, k % 251, sizeof msg);
        double t0 = now_s();
        if (ecn_msg_send(fd, msg, sizeof msg)) break;
        if (ecn_msg_recv(fd, &buf, &cap, &len, NULL) != 0) continue; /* lost one way or the other */
        if (k == 0) *first_rtt = now_s() - t0;
        int got = buf[0];
        (*received)++;
        if (len != sizeof msg || got <= last || got != k % 251 || memcmp(buf, buf + 1, len - 1)) *in_order = 0;
        last = got;
    }
    free(buf);
}

static void lossless_link(void)
{
    echo s;
    ecn_linkproxy *p = NULL;
    ecn_link_stats st;
    int port = 0;
    ecn_err err;
    if (echo_start(&s)) return (void)CHECK(0, "echo server did not start");
    ecn_link_opts o = {.rate_mbps = 0.8, .delay_ms = 30, .loss = 0, .seed = 1};
    CHECK(ecn_linkproxy_start("127.0.0.1", s.port, &o, &port, &p, &err) == 0, "%s", err.msg);
    int fd = p ? ecn_tcp_connect("127.0.0.1", port, 2000, NULL) : -1;
    int received = 0, in_order = 0;
    double rtt = 0;
    if (fd >= 0) exchange(fd, 5, 2000, &received, &in_order, &rtt);
    if (fd >= 0) close(fd);
    ecn_linkproxy_stop(p, &st);
    echo_stop(&s);
    CHECK(received == 5 && in_order, "lossless link: %d of 5 came back (in order: %d)", received, in_order);
    double least = 2 * (0.030 + 8.0 * 1004 / 0.8e6); /* delay and serialisation, both ways */
    CHECK(rtt >= least, "a round trip took %.1f ms, the link allows no less than %.1f ms", rtt * 1e3, least * 1e3);
    CHECK(st.up_messages == 5 && st.down_messages == 5 && st.up_bytes == 5 * 1004.0 && st.connections == 1,
          "lossless link counts: up %ld down %ld bytes %.0f connections %ld", st.up_messages, st.down_messages,
          st.up_bytes, st.connections);
}

static void lossy_link(void)
{
    echo s;
    ecn_linkproxy *p = NULL;
    ecn_link_stats st;
    int port = 0;
    ecn_err err;
    if (echo_start(&s)) return (void)CHECK(0, "echo server did not start");
    ecn_link_opts o = {.rate_mbps = 0, .delay_ms = 0, .loss = 0.3, .seed = 7};
    CHECK(ecn_linkproxy_start("127.0.0.1", s.port, &o, &port, &p, &err) == 0, "%s", err.msg);
    int fd = p ? ecn_tcp_connect("127.0.0.1", port, 2000, NULL) : -1;
    int n = 100, received = 0, in_order = 0;
    double rtt = 0;
    if (fd >= 0) exchange(fd, n, 100, &received, &in_order, &rtt);
    if (fd >= 0) close(fd);
    ecn_linkproxy_stop(p, &st);
    echo_stop(&s);
    CHECK(received > 0 && received < n && in_order, "lossy link: %d of %d came back (in order: %d)", received, n,
          in_order);
    CHECK(st.up_messages + st.up_lost == n, "up: %ld delivered + %ld lost != %d sent", st.up_messages, st.up_lost, n);
    CHECK(st.down_messages + st.down_lost == st.up_messages && st.down_messages == received,
          "down: %ld delivered + %ld lost, %ld echoed, %d received", st.down_messages, st.down_lost, st.up_messages,
          received);
}

static void unreachable_cloud(void)
{
    int closed_port = 0, fd = ecn_tcp_listen("127.0.0.1", 0, &closed_port, NULL);
    close(fd); /* nothing listens there now */
    ecn_linkproxy *p = NULL;
    int port = 0;
    ecn_link_opts o = {.delay_ms = 1};
    CHECK(ecn_linkproxy_start("127.0.0.1", closed_port, &o, &port, &p, NULL) == 0, "proxy did not start");
    int c = p ? ecn_tcp_connect("127.0.0.1", port, 2000, NULL) : -1;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    struct timeval tv = {5, 0};
    if (c >= 0) setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(c >= 0 && ecn_msg_recv(c, &buf, &cap, &len, NULL) == 1,
          "the proxy kept the edge's connection open with no cloud behind it");
    if (c >= 0) close(c);
    free(buf);
    ecn_linkproxy_stop(p, NULL);
}

/* ---- ecnet edge behind a link, against a live cloud ------------------------ */

#define CFG "cfg/fashion-branchy.cfg"
#define WEIGHTS "weights/fashion-branchy.weights"

static pid_t cloud_pid = -1;

static int start_cloud(void)
{
    int p[2];
    if (pipe(p)) return -1;
    cloud_pid = fork();
    if (cloud_pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        execl(test_ecnet(), "ecnet", "cloud", CFG, WEIGHTS, "--listen", "127.0.0.1:0", "--print-port", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[256] = {0};
    int port = -1;
    if (f && fgets(line, sizeof line, f)) {
        char *colon = strrchr(line, ':');
        if (colon) port = atoi(colon + 1);
    }
    if (f) fclose(f);
    return port;
}

/* Run `ecnet edge` with extra options; reads the numbers of its JSON line. */
static int edge_json(int port, const char *extra, double *top1, long *frames, long *results, long *offloaded,
                     long *fallbacks)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s edge " CFG " " WEIGHTS " --cloud 127.0.0.1:%d --data fashion-mnist --images 300 %s --json",
             test_ecnet(), port, extra);
    FILE *f = popen(cmd, "r");
    char line[2048] = {0};
    int ok = f && fgets(line, sizeof line, f);
    if (f) ok = pclose(f) == 0 && ok;
    if (!ok) return -1;
    const char *keys[] = {"\"top1\":", "\"frames\":", "\"results\":", "\"offloaded\":", "\"fallbacks\":"};
    double v[5];
    for (int i = 0; i < 5; i++) {
        const char *at = strstr(line, keys[i]);
        if (!at) return -1;
        v[i] = atof(at + strlen(keys[i]));
    }
    *top1 = v[0], *frames = (long)v[1], *results = (long)v[2], *offloaded = (long)v[3], *fallbacks = (long)v[4];
    return 0;
}

static void edge_behind_links(void)
{
    if (access(CFG, R_OK) || access(WEIGHTS, R_OK) || access("/usr/share/datasets/fashion-mnist", R_OK)) {
        test_skip("the branchy net or Fashion-MNIST is missing: no live link test");
        return;
    }
    int port = start_cloud();
    if (port <= 0) return (void)CHECK(0, "the cloud did not start");
    double base = -1, top1 = -2;
    long frames = 0, results = 0, offloaded = 0, fallbacks = -1;
    CHECK(edge_json(port, "", &base, &frames, &results, &offloaded, &fallbacks) == 0 && fallbacks == 0,
          "the edge without a link failed");
    CHECK(edge_json(port, "--link-mbps 1000 --link-delay-ms 1", &top1, &frames, &results, &offloaded, &fallbacks) == 0 &&
              top1 == base && fallbacks == 0,
          "a fast link changed the answers (top-1 %.4f vs %.4f, %ld fallbacks)", top1, base, fallbacks);
    CHECK(edge_json(port, "--link-loss 1 --deadline-ms 50", &top1, &frames, &results, &offloaded, &fallbacks) == 0 &&
              frames == 300 && results == 300 && offloaded > 0 && fallbacks == offloaded,
          "a link losing everything: %ld frames, %ld results, %ld offloaded, %ld fallbacks", frames, results,
          offloaded, fallbacks);
    CHECK(edge_json(port, "--link-delay-ms 200 --deadline-ms 100", &top1, &frames, &results, &offloaded,
                    &fallbacks) == 0 && results == 300 && offloaded > 0 && fallbacks == offloaded,
          "a link slower than the deadline: %ld results, %ld offloaded, %ld fallbacks", results, offloaded, fallbacks);
    kill(cloud_pid, SIGKILL);
    waitpid(cloud_pid, NULL, 0);
}

static void watchdog(int sig)
{
    (void)sig;
    if (cloud_pid > 0) kill(cloud_pid, SIGKILL);
    static const char msg[] = "test_linkproxy: watchdog fired: something hung\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, watchdog);
    alarm(120);
    lossless_link();
    lossy_link();
    unreachable_cloud();
    edge_behind_links();
    alarm(0);
    return test_finish("test_linkproxy");
}
