/* test_train.c - training end to end on a small net.
 *
 * - the loss falls when one fixed batch is trained on repeatedly;
 * - two runs with the same seed give byte-identical weights;
 * - a weights file written by `ecnet train` loads in libdarknet and gives
 *   the same outputs as ecnet;
 * - `ecnet train` killed with SIGKILL leaves a checkpoint that loads, and
 *   --resume finishes the run from it.
 * Uses Fashion-MNIST from the Debian package (skipped when absent).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/net.h"
#include "ecnet.h"
#include "testlib.h"
#include "train/data.h"
#include "train/optimizer.h"
#include "train/train.h"

#define FASHION "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

/* A miniature of cfg/fashion.cfg: every trainable layer type the real one has. */
static const char *tiny_cfg =
    "[net]\nbatch=32\nsubdivisions=2\nwidth=28\nheight=28\nchannels=1\n"
    "momentum=0.9\ndecay=0.0005\nlearning_rate=0.05\npolicy=constant\nmax_batches=%d\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[convolutional]\nfilters=10\nsize=1\nstride=1\npad=1\nactivation=linear\n"
    "[avgpool]\n[softmax]\n";

static void write_cfg(const char *path, int max_batches)
{
    char text[2048];
    snprintf(text, sizeof text, tiny_cfg, max_batches);
    test_write_file(path, text, strlen(text));
}

static void loss_falls(const ecn_dataset *ds, const char *cfg)
{
    ecn_net *net;
    ecn_err err;
    if (ecn_train_open(cfg, 2, &net, &err) || ecn_net_train_begin(net, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    ecn_net_randomize(net, 3);
    ecn_optimizer *opt;
    CHECK(ecn_optimizer_create(net, &opt, &err) == 0, "%s", err.msg);
    int mini = ecn_net_batch(net);
    float *x = malloc((size_t)mini * 784 * sizeof *x), *t = malloc((size_t)mini * 10 * sizeof *t);
    ecn_dataset_batch(ds, NULL, mini, ecn_net_input_shape(net), NULL, NULL, x, t, 10, &err);
    float first = 0, last = 0;
    for (int step = 0; step < 30; step++) {
        last = ecn_net_train_step(net, x, t, 10) / mini;
        if (step == 0) first = last;
        ecn_optimizer_update(opt, .05f, mini);
    }
    CHECK(last < first * 0.5f, "loss on a fixed batch went from %.4f to %.4f", first, last);
    printf("  fixed batch: loss %.4f -> %.4f after 30 steps\n", first, last);
    free(x);
    free(t);
    ecn_optimizer_free(opt);
    ecn_net_free(net);
}

/* Runs `ecnet train` in the background and returns its pid. */
static pid_t spawn_train(const char *cfg, const char *out, int resume)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        freopen("/dev/null", "w", stdout);
        execl(test_ecnet(), test_ecnet(), "train", cfg, "--data", "fashion-mnist", "--out", out,
              "--save-every", "1", "--threads", "1", resume ? "--resume" : NULL, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int loads(const char *cfg, const char *weights, unsigned long long *seen)
{
    ecn_net *net;
    ecn_err err;
    ecn_load_opts lo = {.batch = 1, .threads = 1};
    if (ecn_net_from_cfg(cfg, &lo, &net, &err)) return 0;
    int ok = ecn_net_load_weights(net, weights, &err) == 0;
    if (!ok) fprintf(stderr, "  %s\n", err.msg);
    if (seen) *seen = net->seen;
    ecn_net_free(net);
    return ok;
}

static void kill_and_resume(const char *dir, const char *cfg)
{
    char out[1024], last[1200], final[1200];
    snprintf(out, sizeof out, "%s/killed", dir);
    mkdir(out, 0777);
    snprintf(last, sizeof last, "%s/tiny_last.weights", out);
    snprintf(final, sizeof final, "%s/tiny_final.weights", out);
    pid_t pid = spawn_train(cfg, out, 0);
    /* Wait for a few checkpoints, then kill without warning. */
    struct stat st;
    for (int i = 0; i < 3000 && stat(last, &st) != 0; i++) usleep(10000);
    usleep(200000);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status), "ecnet train finished before it could be killed: make max_batches larger");
    unsigned long long seen = 0;
    CHECK(loads(cfg, last, &seen), "the checkpoint left by a killed run does not load");
    CHECK(seen > 0 && seen % 32 == 0, "checkpoint seen=%llu is not a whole number of updates", seen);
    CHECK(access(final, F_OK) != 0, "a killed run left a final weights file");
    pid = spawn_train(cfg, out, 1);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--resume failed (status %d)", status);
    unsigned long long seen_final = 0;
    CHECK(loads(cfg, final, &seen_final), "the resumed run's final weights do not load");
    CHECK(seen_final == 300ULL * 32, "resumed run ended at seen=%llu, expected %d", seen_final, 300 * 32);
    printf("  killed at a checkpoint of %llu images, resumed to %llu\n", seen, seen_final);
}

/* Ctrl-C: the run saves a checkpoint, says how to resume, and exits 1. */
static void interrupt_saves(const char *dir, const char *cfg)
{
    char out[1024], last[1200];
    snprintf(out, sizeof out, "%s/interrupted", dir);
    mkdir(out, 0777);
    snprintf(last, sizeof last, "%s/tiny_last.weights", out);
    pid_t pid = spawn_train(cfg, out, 0);
    struct stat st;
    for (int i = 0; i < 3000 && stat(last, &st) != 0; i++) usleep(10000); /* training under way */
    remove(last);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "after Ctrl-C, ecnet train should exit 1 (status %d)",
          status);
    unsigned long long seen = 0;
    CHECK(loads(cfg, last, &seen) && seen > 0, "Ctrl-C left no loadable checkpoint");
}

static void same_seed_same_weights(const char *dir, const char *cfg)
{
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    int rc = test_system("%s train %s --data fashion-mnist --out %s --seed 7 --threads 2 --json >/dev/null 2>&1 && "
                         "%s train %s --data fashion-mnist --out %s --seed 7 --threads 2 --json >/dev/null 2>&1",
                         test_ecnet(), cfg, a, test_ecnet(), cfg, b);
    CHECK(rc == 0, "ecnet train failed (exit %d)", rc);
    CHECK(test_system("cmp -s %s/tiny_final.weights %s/tiny_final.weights", a, b) == 0,
          "two runs with the same seed wrote different weights");
}

/* The trained file in libdarknet against ecnet on one real image. */
static void darknet_reads_it(const char *dir, const char *cfg, const ecn_dataset *ds)
{
    char oracle[512], weights[1200], in[1200], ref[1200], ours[1200];
    snprintf(oracle, sizeof oracle, "%s/darknet_ref", test_build_dir());
    if (access(oracle, X_OK) != 0) {
        test_skip("darknet oracle not built: cannot check that darknet reads trained weights");
        return;
    }
    snprintf(weights, sizeof weights, "%s/a/tiny_final.weights", dir);
    snprintf(in, sizeof in, "%s/in.f32", dir);
    snprintf(ref, sizeof ref, "%s/ref.f32", dir);
    snprintf(ours, sizeof ours, "%s/ours.f32", dir);
    float x[784];
    ecn_err err;
    ecn_dataset_batch(ds, NULL, 1, (ecn_shape){1, 28, 28}, NULL, NULL, x, NULL, 0, &err);
    test_write_file(in, x, sizeof x);
    int rc = test_system("%s forward %s %s %s %s 2>/dev/null", oracle, cfg, weights, in, ref);
    rc = rc ? rc : test_system("%s forward %s %s --input %s --dump-layers %s --output %s.out", test_ecnet(),
                               cfg, weights, in, ours, ours);
    CHECK(rc == 0, "forward failed (exit %d)", rc);
    size_t na = 0, nb = 0;
    float *a = (float *)test_read_file(ours, &na), *b = (float *)test_read_file(ref, &nb);
    CHECK(a && b && na == nb, "dump sizes differ");
    if (a && b && na == nb) {
        double d = test_rel_diff(a, b, na / 4);
        CHECK(d < 1e-4, "darknet and ecnet disagree on trained weights: %.3g", d);
        printf("  darknet on ecnet-trained weights: relative difference %.2e\n", d);
    }
    free(a);
    free(b);
}

int main(void)
{
    if (access(FASHION, R_OK) != 0) {
        test_skip("dataset-fashion-mnist not installed");
        return test_finish("test_train");
    }
    char *dir = test_tmpdir(), cfg[1024], cfg_long[1024];
    snprintf(cfg, sizeof cfg, "%s/tiny.cfg", dir);
    write_cfg(cfg, 12);
    ecn_dataset ds;
    ecn_err err;
    CHECK(ecn_dataset_open("fashion-mnist", 0, &ds, &err) == 0, "%s", err.msg);
    loss_falls(&ds, cfg);
    same_seed_same_weights(dir, cfg);
    darknet_reads_it(dir, cfg, &ds);
    snprintf(cfg_long, sizeof cfg_long, "%s/long/tiny.cfg", dir);
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/long", dir);
    mkdir(sub, 0777);
    write_cfg(cfg_long, 300);
    kill_and_resume(dir, cfg_long);
    interrupt_saves(dir, cfg_long);
    ecn_dataset_free(&ds);
    test_rmdir(dir);
    free(dir);
    return test_finish("test_train");
}
