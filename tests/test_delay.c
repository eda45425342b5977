/* test_delay.c - the capture-to-output delay model (src/net/delay.c) and the
 * `ecnet delay` tool.
 *
 * Hand-computed delays of every option, the transfer time, pairwise and
 * best-option crossovers for simple numbers; every delay falls as the rate
 * grows; early exits never make split computing slower; the crossovers agree
 * with a fine scan of the best option.  The tool runs on the Fashion-MNIST
 * branchy model (when its weights and the data set are here), on a net with a
 * split and no exits, and refuses a net without a split.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecnet.h"
#include "net/delay.h"
#include "testlib.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-9 * (fabs(b) > 1 ? fabs(b) : 1); }

static ecn_delay_params simple(void)
{
    return (ecn_delay_params){.t_full = 0.1, .t_head = 0.02, .t_encode = 0.005, .t_decode = 0.005, .t_tail = 0.07,
                              .image_bytes = 1000, .frame_bytes = 250, .exit_rate = 0.5, .has_exits = 1,
                              .edge_slowdown = 1};
}

static void hand_computed(void)
{
    CHECK(near(ecn_delay_tx(1000, 1e6, 0), 0.008), "T_tx 1000 B at 1 Mbit/s: %g", ecn_delay_tx(1000, 1e6, 0));
    CHECK(near(ecn_delay_tx(1000, 1e6, 0.01), 0.018), "T_tx with 10 ms latency: %g", ecn_delay_tx(1000, 1e6, 0.01));
    CHECK(isinf(ecn_delay_tx(1000, 0, 0)), "T_tx at rate 0 is infinite");
    CHECK(near(ecn_delay_tx(0, 0, 0.003), 0.003), "nothing to send costs the latency only");

    ecn_delay_params p = simple();
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_LOCAL, 1e6), 0.1), "local %g", ecn_delay_of(&p, ECN_DELAY_LOCAL, 1e6));
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_OFFLOAD, 1e6), 0.108), "offload %g", ecn_delay_of(&p, ECN_DELAY_OFFLOAD, 1e6));
    /* 0.02 + 0.005 + 2000 / 1e6 + 0.005 + 0.07 */
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_SPLIT, 1e6), 0.102), "split %g", ecn_delay_of(&p, ECN_DELAY_SPLIT, 1e6));
    /* 0.02 + 0.5 * (0.005 + 0.002 + 0.005 + 0.07) */
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_SPLIT_EXITS, 1e6), 0.061), "split+exits %g",
          ecn_delay_of(&p, ECN_DELAY_SPLIT_EXITS, 1e6));
    CHECK(ecn_delay_best(&p, 1e6, NULL) == ECN_DELAY_SPLIT_EXITS, "best at 1 Mbit/s is split+exits");

    /* a 4 times slower edge and 10 ms latency: the edge's parts are scaled, the cloud's are not */
    p.edge_slowdown = 4, p.latency_s = 0.01;
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_LOCAL, 1e6), 0.4), "local, slow edge");
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_OFFLOAD, 1e6), 0.118), "offload, latency");
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_SPLIT, 1e6), 0.1 + 0.01 + 0.002 + 0.075), "split, slow edge %g",
          ecn_delay_of(&p, ECN_DELAY_SPLIT, 1e6));
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_SPLIT_EXITS, 1e6), 0.08 + 0.5 * (0.02 + 0.01 + 0.002 + 0.075)),
          "split+exits, slow edge %g", ecn_delay_of(&p, ECN_DELAY_SPLIT_EXITS, 1e6));
    p.t_image = 0.001;
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_OFFLOAD, 1e6), 0.122), "offload pays the edge's image compression");

    /* offloading vs local: 0.4 = 0.1 + 8000 / R, R = 26666.67 bit/s */
    p = simple();
    p.edge_slowdown = 4;
    double r = ecn_delay_pair_crossover(&p, ECN_DELAY_OFFLOAD, ECN_DELAY_LOCAL);
    CHECK(near(r, 8000 / 0.3), "offload/local crossover %g, expected %g", r, 8000 / 0.3);
    CHECK(near(ecn_delay_of(&p, ECN_DELAY_OFFLOAD, r), ecn_delay_of(&p, ECN_DELAY_LOCAL, r)), "equal there");
    CHECK(ecn_delay_pair_crossover(&p, ECN_DELAY_SPLIT, ECN_DELAY_SPLIT) < 0, "an option never crosses itself");
    p.edge_slowdown = 0.5; /* the edge is so fast that offloading never wins */
    CHECK(ecn_delay_pair_crossover(&p, ECN_DELAY_OFFLOAD, ECN_DELAY_LOCAL) < 0, "no crossover when local always wins");

    /* the best option without exits, edge 4 x slower:
     *   local 0.4, offload 0.1 + 8000 x, split 4 * 0.025 + 0.075 + 2000 x = 0.175 + 2000 x  (x = 1 / R)
     *   split/local at x = 0.225 / 2000 (8888.9 bit/s), offload/split at x = 0.075 / 6000 (80 kbit/s) */
    p = simple();
    p.edge_slowdown = 4, p.has_exits = 0;
    ecn_delay_crossover cx[8];
    int n = ecn_delay_crossovers(&p, 0, INFINITY, cx, 8);
    CHECK(n == 2, "two changes of the best option, got %d", n);
    if (n == 2) {
        CHECK(near(cx[0].rate_bps, 2000 / 0.225) && cx[0].below == ECN_DELAY_LOCAL && cx[0].above == ECN_DELAY_SPLIT,
              "first change %g (%s -> %s), expected %g local -> split", cx[0].rate_bps, ecn_delay_name(cx[0].below),
              ecn_delay_name(cx[0].above), 2000 / 0.225);
        CHECK(near(cx[1].rate_bps, 6000 / 0.075) && cx[1].below == ECN_DELAY_SPLIT && cx[1].above == ECN_DELAY_OFFLOAD,
              "second change %g (%s -> %s), expected %g split -> offload", cx[1].rate_bps,
              ecn_delay_name(cx[1].below), ecn_delay_name(cx[1].above), 6000 / 0.075);
    }
    CHECK(ecn_delay_crossovers(&p, 1e4, 5e4, cx, 8) == 0, "no change strictly between 10 and 50 kbit/s");
    CHECK(ecn_delay_crossovers(&p, 5e4, 1e6, cx, 8) == 1 && cx[0].above == ECN_DELAY_OFFLOAD,
          "one change between 50 kbit/s and 1 Mbit/s");
    for (double rate = 1e3; rate < 1e9; rate *= 1.1)
        CHECK(ecn_delay_best(&p, rate, NULL) != ECN_DELAY_SPLIT_EXITS, "split+exits chosen without exits");
    CHECK(!ecn_delay_available(&p, ECN_DELAY_SPLIT_EXITS) && ecn_delay_available(&p, ECN_DELAY_LOCAL),
          "availability");
}

static double uniform(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* Random parameters: delays fall with the rate, exits never hurt, and the
 * crossovers are exactly where a fine scan sees the best option change. */
static void properties(void)
{
    unsigned long long s = 42;
    int bad_mono = 0, bad_exit = 0, bad_scan = 0, bad_side = 0;
    for (int t = 0; t < 300; t++) {
        ecn_delay_params p = {.t_full = 1e-3 * (1 + 99 * uniform(&s)), .t_head = 1e-3 * 50 * uniform(&s),
                              .t_encode = 1e-3 * 5 * uniform(&s), .t_decode = 1e-3 * 5 * uniform(&s),
                              .t_tail = 1e-3 * 50 * uniform(&s), .t_image = 1e-3 * uniform(&s),
                              .image_bytes = 100 + 1e5 * uniform(&s), .frame_bytes = 100 + 5e4 * uniform(&s),
                              .exit_rate = uniform(&s), .has_exits = t % 3 != 0,
                              .edge_slowdown = 0.5 + 20 * uniform(&s), .latency_s = 0.02 * uniform(&s)};
        double prev[ECN_DELAY_OPTIONS];
        for (int o = 0; o < ECN_DELAY_OPTIONS; o++) prev[o] = INFINITY;
        for (double r = 1e4; r <= 1e10; r *= 1.05) {
            for (int o = 0; o < ECN_DELAY_OPTIONS; o++) {
                double d = ecn_delay_of(&p, (ecn_delay_option)o, r);
                bad_mono += d > prev[o];
                prev[o] = d;
            }
            if (p.has_exits)
                bad_exit += ecn_delay_of(&p, ECN_DELAY_SPLIT_EXITS, r) > ecn_delay_of(&p, ECN_DELAY_SPLIT, r);
        }
        /* exits never hurt, whatever the exit rate */
        ecn_delay_params q = p;
        q.has_exits = 1;
        for (int k = 0; k <= 10; k++) {
            q.exit_rate = k / 10.0;
            for (double r = 1e4; r <= 1e10; r *= 10)
                bad_exit += ecn_delay_of(&q, ECN_DELAY_SPLIT_EXITS, r) > ecn_delay_of(&q, ECN_DELAY_SPLIT, r) * (1 + 1e-12);
        }
        ecn_delay_crossover cx[8];
        int n = ecn_delay_crossovers(&p, 1e4, 1e10, cx, 8);
        int changes = 0;
        ecn_delay_option last = ecn_delay_best(&p, 1e4, NULL);
        for (double r = 1e4; r <= 1e10; r *= 1.001) {
            ecn_delay_option b = ecn_delay_best(&p, r, NULL);
            changes += b != last;
            last = b;
        }
        bad_scan += changes != n;
        for (int i = 0; i < n && i < 8; i++) {
            bad_side += ecn_delay_best(&p, cx[i].rate_bps * 0.9999, NULL) != cx[i].below;
            bad_side += ecn_delay_best(&p, cx[i].rate_bps * 1.0001, NULL) != cx[i].above;
            bad_side += i > 0 && !(cx[i].rate_bps > cx[i - 1].rate_bps);
        }
    }
    CHECK(bad_mono == 0, "%d delays grew with the rate", bad_mono);
    CHECK(bad_exit == 0, "%d times exits made split computing slower", bad_exit);
    CHECK(bad_scan == 0, "%d models where the crossovers disagree with a scan of the best option", bad_scan);
    CHECK(bad_side == 0, "%d crossovers with the wrong option on a side, or out of order", bad_side);
}

/* ---- the tool ------------------------------------------------------------ */

static double json_number(const char *js, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(js, k);
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

/* A whole file as a C string, or NULL. */
static char *read_text(const char *path)
{
    size_t size;
    unsigned char *b = test_read_file(path, &size);
    char *s = b ? realloc(b, size + 1) : NULL;
    if (!s) {
        free(b);
        return NULL;
    }
    s[size] = 0;
    return s;
}

static int fashion_here(void)
{
    const char *dir = getenv("ECNET_FASHION_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir ? dir : "/usr/share/datasets/fashion-mnist");
    return access(path, R_OK) == 0;
}

static void tool_branchy(const char *dir)
{
    if (access("weights/fashion-branchy.weights", R_OK) != 0) {
        test_skip("weights/fashion-branchy.weights missing (make weights)");
        return;
    }
    int rc = test_system("%s delay cfg/fashion-branchy.cfg weights/fashion-branchy.weights --data fashion-mnist "
                         "--images 20 --json --svg %s/delay.svg > %s/out.json",
                         test_ecnet(), dir, dir);
    CHECK(rc == 0, "ecnet delay --json exit %d", rc);
    char path[512];
    snprintf(path, sizeof path, "%s/out.json", dir);
    char *js = read_text(path);
    CHECK(js != NULL, "no JSON written");
    if (!js) return;
    const char *keys[] = {"t_full_s", "t_head_s", "t_encode_s", "t_decode_s", "t_tail_s", "frame_bytes",
                          "png_bytes", "zlib_bytes", "image_bytes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        double v = json_number(js, keys[i]);
        CHECK(v > 0 && isfinite(v), "%s = %g, expected a positive number", keys[i], v);
    }
    double e = json_number(js, "exit_rate");
    CHECK(e >= 0 && e <= 1, "exit_rate %g", e);
    CHECK(json_number(js, "images") == 20, "images %g", json_number(js, "images"));
    CHECK(json_number(js, "exits") == 2, "the branchy net has 2 exits");
    CHECK(json_number(js, "t_full_s") > json_number(js, "t_tail_s"), "the whole net takes longer than its tail");
    CHECK(json_number(js, "image_bytes") <= json_number(js, "png_bytes") &&
              json_number(js, "image_bytes") <= json_number(js, "zlib_bytes"),
          "offloading sends the smaller format");
    CHECK(strstr(js, "\"rows\":[{\"mbps\":0.1,") != NULL, "rows start at 0.1 Mbit/s");
    CHECK(strstr(js, "\"split_exits_ms\":") && strstr(js, "\"crossovers\":[") && strstr(js, "\"best\":\""),
          "rows and crossovers in the JSON");
    int rows = 0;
    for (const char *p = js; (p = strstr(p, "\"mbps\":")); p++) rows++;
    CHECK(rows >= 10, "10 rows (and crossovers): %d", rows);
    free(js);
    snprintf(path, sizeof path, "%s/delay.svg", dir);
    char *svg = read_text(path);
    CHECK(svg && strstr(svg, "<svg") && strstr(svg, "split+exits"), "--svg wrote a chart");
    free(svg);
}

/* A net with a split and no exits (random weights), and one without a split. */
static void tool_small(const char *dir)
{
    static const char split_cfg[] = "[net]\nwidth=28\nheight=28\nchannels=1\n\n"
                                    "[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=leaky\n\n"
                                    "[split]\nbits=8\ncodec=zlib\n\n"
                                    "[convolutional]\nfilters=10\nsize=1\nstride=1\npad=1\nactivation=linear\n\n"
                                    "[avgpool]\n\n[softmax]\n";
    static const char plain_cfg[] = "[net]\nwidth=28\nheight=28\nchannels=1\n\n"
                                    "[convolutional]\nfilters=10\nsize=3\nstride=2\npad=1\nactivation=linear\n\n"
                                    "[avgpool]\n\n[softmax]\n";
    const char *cfgs[2] = {split_cfg, plain_cfg}, *names[2] = {"split", "plain"};
    char cfg[2][512], wts[2][512];
    for (int i = 0; i < 2; i++) {
        snprintf(cfg[i], sizeof cfg[i], "%s/%s.cfg", dir, names[i]);
        snprintf(wts[i], sizeof wts[i], "%s/%s.weights", dir, names[i]);
        ecn_net *net;
        ecn_err err;
        int ok = test_write_file(cfg[i], cfgs[i], strlen(cfgs[i])) == 0 &&
                 ecn_net_from_cfg(cfg[i], NULL, &net, &err) == 0;
        CHECK(ok, "small net %s: %s", names[i], err.msg);
        if (!ok) return;
        ecn_net_randomize(net, 3);
        CHECK(ecn_net_save_weights(net, wts[i], &err) == 0, "save %s: %s", names[i], err.msg);
        ecn_net_free(net);
    }
    int rc = test_system("%s delay %s %s --data fashion-mnist --images 5 --rates 1,10 --edge-slowdown 3 "
                         "--latency-ms 2 --json > %s/small.json",
                         test_ecnet(), cfg[0], wts[0], dir);
    CHECK(rc == 0, "delay on a net without exits: exit %d", rc);
    char path[512];
    snprintf(path, sizeof path, "%s/small.json", dir);
    char *js = read_text(path);
    if (js) {
        CHECK(strstr(js, "\"exit_rate\":null") && !strstr(js, "split_exits") && strstr(js, "\"options\":[\"local\",\"offload\",\"split\"]"),
              "no exits: the split+exits option is left out");
        CHECK(json_number(js, "edge_slowdown") == 3 && json_number(js, "latency_ms") == 2, "options echoed");
        CHECK(strstr(js, "{\"mbps\":1,") && strstr(js, "{\"mbps\":10,") && !strstr(js, "{\"mbps\":100,"), "--rates used");
        free(js);
    } else {
        CHECK(0, "no JSON for the small net");
    }
    rc = test_system("%s delay %s %s --data fashion-mnist --images 5 > %s/plain.out 2> %s/plain.err", test_ecnet(),
                     cfg[1], wts[1], dir, dir);
    CHECK(rc == 1, "a net without a split fails with exit 1, got %d", rc);
    snprintf(path, sizeof path, "%s/plain.err", dir);
    char *msg = read_text(path);
    CHECK(msg && strstr(msg, "no [split]"), "the message names the missing [split]");
    free(msg);
    rc = test_system("%s delay %s %s --images 5 2>/dev/null", test_ecnet(), cfg[0], wts[0]);
    CHECK(rc == 2, "no --data is a usage error, got %d", rc);
    rc = test_system("%s delay %s %s --data fashion-mnist --rates 1,x 2>/dev/null", test_ecnet(), cfg[0], wts[0]);
    CHECK(rc == 2, "a bad --rates list is a usage error, got %d", rc);
}

int main(void)
{
    hand_computed();
    properties();
    if (access(test_ecnet(), X_OK) != 0) {
        test_skip("%s not built: tool tests skipped", test_ecnet());
    } else if (!fashion_here()) {
        test_skip("Fashion-MNIST missing: tool tests skipped");
    } else {
        char *dir = test_tmpdir();
        CHECK(dir != NULL, "no temporary directory");
        if (!dir) return test_finish("test_delay");
        tool_branchy(dir);
        tool_small(dir);
        test_rmdir(dir);
        free(dir);
    }
    return test_finish("test_delay");
}
