/* test_darknet.c - forward outputs against the reference Darknet, layer by layer.
 *
 * For each network: the oracle (tests/darknet_ref.c, linked with the darknet
 * package's libdarknet.so) turns dog.jpg into an input tensor, writes a
 * .weights file with calibrated random parameters, and dumps every layer's
 * output.  `ecnet forward --dump-layers` runs the same weights on the same
 * tensor; every layer must agree to 1e-3 of its largest magnitude.  The
 * weights file must also survive an ecnet load + save byte for byte.
 *
 * Skipped (with a note) when the darknet package is not installed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecnet.h"
#include "testlib.h"

#define CFG_DIR "/usr/share/darknet/cfg/"
#define DOG "/usr/share/darknet/data/dog.jpg"

typedef struct case_ {
    const char *cfg;
    int w, h;
    float detect_thresh; /* > 0: also compare `detect` at this threshold */
} case_;

/* Detection thresholds are high because random weights "see" objects
 * everywhere; region probabilities (softmax over 80 classes) stay small. */
static const case_ cases[] = {
    {"darknet19.cfg", 256, 256, 0},   {"darknet53.cfg", 256, 256, 0},
    {"yolov2-tiny.cfg", 416, 416, .2f}, {"yolov2.cfg", 416, 416, 0},
    {"yolov3-tiny.cfg", 416, 416, .8f}, {"yolov3.cfg", 416, 416, 0},
};

static float *read_f32(const char *path, size_t *n)
{
    size_t bytes;
    float *x = (float *)test_read_file(path, &bytes);
    if (x) *n = bytes / sizeof(float);
    return x;
}

/* Compare the two dumps layer by layer; returns the number of bad layers. */
static int compare_layers(const char *cfg_path, const case_ *c, const float *ours, size_t n_ours,
                          const float *ref, size_t n_ref)
{
    ecn_load_opts lo = {.batch = 1, .width = c->w, .height = c->h, .threads = 1};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg(cfg_path, &lo, &net, &err)) {
        CHECK(0, "%s: %s", c->cfg, err.msg);
        return 1;
    }
    CHECK(n_ours == n_ref, "%s: dump sizes differ: ecnet %zu floats, darknet %zu", c->cfg, n_ours, n_ref);
    int bad = 0;
    size_t off = 0;
    double worst = 0;
    for (int i = 0; i < ecn_net_layer_count(net) && n_ours == n_ref; i++) {
        ecn_layer_info li;
        ecn_net_layer_info(net, i, &li);
        size_t n = ecn_shape_size(li.out);
        if (off + n > n_ref) {
            CHECK(0, "%s: layer %d runs past the reference dump", c->cfg, i);
            bad++;
            break;
        }
        double d = test_rel_diff(ours + off, ref + off, n);
        if (d > worst) worst = d;
        if (!(d <= 1e-3)) {
            bad++;
            fprintf(stderr, "  %s layer %d (%s): relative difference %.3g\n", c->cfg, i, li.type, d);
        }
        off += n;
    }
    CHECK(bad == 0, "%s: %d layers differ from darknet by more than 1e-3", c->cfg, bad);
    printf("  %s %dx%d: %d layers, worst relative difference %.2e\n", c->cfg, c->w, c->h,
           ecn_net_layer_count(net), worst);
    ecn_net_free(net);
    return bad;
}

static void weights_round_trip(const char *cfg_path, const case_ *c, const char *weights,
                               const char *dir)
{
    ecn_load_opts lo = {.batch = 1, .width = c->w, .height = c->h, .threads = 1};
    ecn_net *net;
    ecn_err err;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s/resaved.weights", dir);
    int ok = ecn_net_from_cfg(cfg_path, &lo, &net, &err) == 0;
    ok = ok && ecn_net_load_weights(net, weights, &err) == 0 && ecn_net_save_weights(net, copy, &err) == 0;
    CHECK(ok, "%s: weights load/save: %s", c->cfg, err.msg);
    if (ok) CHECK(test_system("cmp -s '%s' '%s'", weights, copy) == 0,
                  "%s: weights saved by ecnet differ from the darknet file", c->cfg);
    if (net) ecn_net_free(net);
    unlink(copy);
}

/* One class detection: class, probability, box relative to the image. */
typedef struct hit {
    int cls;
    float prob, x, y, w, h;
} hit;

static int read_darknet_hits(const char *path, hit *h, int max)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < max && fscanf(f, "%d %f %f %f %f %f", &h[n].cls, &h[n].prob, &h[n].x, &h[n].y,
                                  &h[n].w, &h[n].h) == 6)
        n++;
    if (f) fclose(f);
    return n;
}

/* Parse the "detections" of `ecnet detect --json`. */
static int read_ecnet_hits(const char *path, hit *h, int max)
{
    size_t size;
    char *text = (char *)test_read_file(path, &size);
    int n = 0;
    for (char *p = text; p && n < max && (p = strstr(p, "{\"class\":")); p++) {
        char *prob = strstr(p, "\"prob\":");
        if (prob && sscanf(p, "{\"class\":%d", &h[n].cls) == 1 &&
            sscanf(prob, "\"prob\":%f,\"x\":%f,\"y\":%f,\"w\":%f,\"h\":%f", &h[n].prob, &h[n].x,
                   &h[n].y, &h[n].w, &h[n].h) == 5)
            n++;
    }
    free(text);
    return n;
}

static int same_hit(const hit *a, const hit *b)
{
    return a->cls == b->cls && fabsf(a->prob - b->prob) < 1e-4f && fabsf(a->x - b->x) < 1e-4f &&
           fabsf(a->y - b->y) < 1e-4f && fabsf(a->w - b->w) <= 1e-4f * (1 + a->w) &&
           fabsf(a->h - b->h) <= 1e-4f * (1 + a->h);
}

/* `ecnet detect` against Darknet's detector path (letterbox, boxes, NMS) on
 * a PNG copy of dog.jpg, so that both decode identical pixels. */
static void compare_detect(const char *oracle, const char *cfg_path, const case_ *c,
                           const char *weights, const char *dir, float thresh)
{
    char png[1024], ref[1024], ours[1024];
    snprintf(png, sizeof png, "%s/dog.png", dir);
    snprintf(ref, sizeof ref, "%s/ref.txt", dir);
    snprintf(ours, sizeof ours, "%s/ours.json", dir);
    ecn_image im;
    ecn_err err;
    if (ecn_image_load(DOG, 3, &im, &err) || ecn_image_save_png(&im, png, &err)) {
        CHECK(0, "PNG copy of dog.jpg: %s", err.msg);
        return;
    }
    ecn_image_free(&im);
    int rc = test_system("%s detect %s %s %s --thresh %g > %s 2>/dev/null", oracle, cfg_path, weights,
                         png, thresh, ref);
    rc = rc ? rc : test_system("%s detect %s %s %s --thresh %g --json --out '' > %s", test_ecnet(),
                               cfg_path, weights, png, thresh, ours);
    CHECK(rc == 0, "%s: detect failed (exit %d)", c->cfg, rc);
    enum { MAX_HITS = 20000 };
    hit *a = calloc(MAX_HITS, sizeof *a), *b = calloc(MAX_HITS, sizeof *b);
    int na = read_darknet_hits(ref, a, MAX_HITS), nb = read_ecnet_hits(ours, b, MAX_HITS), matched = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (same_hit(&a[i], &b[j])) {
                matched++;
                break;
            }
    CHECK(na > 0, "%s: darknet found nothing at threshold %g: the test compares nothing", c->cfg, thresh);
    CHECK(na == nb && matched == na, "%s detect: darknet %d class detections, ecnet %d, %d matched",
          c->cfg, na, nb, matched);
    printf("  %s detect at %.2f: %d class detections, %d identical\n", c->cfg, thresh, na, matched);
    free(a);
    free(b);
}

static void run_case(const char *oracle, const case_ *c)
{
    char *dir = test_tmpdir();
    char cfg_path[512], in[1024], w[1024], ref[1024], ours[1024], out[1024];
    snprintf(cfg_path, sizeof cfg_path, CFG_DIR "%s", c->cfg);
    snprintf(in, sizeof in, "%s/in.f32", dir);
    snprintf(w, sizeof w, "%s/net.weights", dir);
    snprintf(ref, sizeof ref, "%s/ref.f32", dir);
    snprintf(ours, sizeof ours, "%s/ours.f32", dir);
    snprintf(out, sizeof out, "%s/out.f32", dir);
    int letterbox = strncmp(c->cfg, "yolo", 4) == 0;
    int rc = test_system("%s image " DOG " %s --width %d --height %d %s", oracle, in, c->w, c->h,
                         letterbox ? "--letterbox" : "");
    rc = rc ? rc : test_system("%s weights %s %s --input %s --width %d --height %d 2>/dev/null", oracle,
                               cfg_path, w, in, c->w, c->h);
    rc = rc ? rc : test_system("%s forward %s %s %s %s --width %d --height %d 2>/dev/null", oracle,
                               cfg_path, w, in, ref, c->w, c->h);
    CHECK(rc == 0, "%s: the darknet oracle failed (exit %d)", c->cfg, rc);
    if (rc == 0) {
        rc = test_system("%s forward %s %s --input %s --width %d --height %d --output %s "
                         "--dump-layers %s", test_ecnet(), cfg_path, w, in, c->w, c->h, out, ours);
        CHECK(rc == 0, "%s: ecnet forward failed (exit %d)", c->cfg, rc);
    }
    if (rc == 0) {
        size_t n_ours = 0, n_ref = 0;
        float *a = read_f32(ours, &n_ours), *b = read_f32(ref, &n_ref);
        if (a && b) compare_layers(cfg_path, c, a, n_ours, b, n_ref);
        else CHECK(0, "%s: cannot read the dumps", c->cfg);
        free(a);
        free(b);
        weights_round_trip(cfg_path, c, w, dir);
        if (c->detect_thresh > 0) compare_detect(oracle, cfg_path, c, w, dir, c->detect_thresh);
    }
    test_rmdir(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    char oracle[512];
    snprintf(oracle, sizeof oracle, "%s/darknet_ref", test_build_dir());
    if (access(oracle, X_OK) != 0 || access(CFG_DIR "darknet19.cfg", R_OK) != 0) {
        test_skip("darknet package not installed: no reference to compare with");
        return test_finish("test_darknet");
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (argc > 1 && !strstr(cases[i].cfg, argv[1])) continue; /* run one: test_darknet yolov2 */
        run_case(oracle, &cases[i]);
    }
    return test_finish("test_darknet");
}
