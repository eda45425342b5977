/* test_cfg.c - the cfg reader (src/core/cfg.c) and the network builder
 * (src/core/net.c and each layer's make()).
 *
 *   - every cfg shipped with Darknet builds when it uses only the supported
 *     sections, and fails with "file:line: unknown section" when it does not;
 *     a few known shapes and Darknet's own BFLOPs figure;
 *   - error messages name the file, the line and what was expected;
 *   - warnings for unused and repeated options;
 *   - whitespace, comments and CRLF line endings;
 *   - two networks alive (and running) in one process at once.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/net.h"
#include "ecnet.h"
#include "testlib.h"

#define CFG_DIR "/usr/share/darknet/cfg"

static const ecn_load_opts one_thread = {.batch = 1, .threads = 1};

static int build(const char *text, ecn_net **net, ecn_err *err)
{
    memset(err->msg, 0, sizeof err->msg);
    return ecn_net_from_cfg_text(text, strlen(text), "t.cfg", &one_thread, net, err);
}

/* The text must fail to build with "t.cfg:LINE:" and `what` in the message
 * (line 0: the message must name t.cfg but no line). */
static void expect_error(const char *label, const char *text, int line, const char *what)
{
    ecn_net *net = (ecn_net *)1;
    ecn_err err;
    int rc = build(text, &net, &err);
    CHECK(rc == -1, "%s: expected an error, the cfg built", label);
    CHECK(net == NULL, "%s: *out must be NULL after an error", label);
    if (rc != -1) {
        ecn_net_free(net);
        return;
    }
    char where[64];
    if (line) snprintf(where, sizeof where, "t.cfg:%d:", line);
    else snprintf(where, sizeof where, "t.cfg");
    CHECK(strstr(err.msg, where) != NULL, "%s: message should name %s: %s", label, where, err.msg);
    CHECK(strstr(err.msg, what) != NULL, "%s: message should say '%s': %s", label, what, err.msg);
}

/* ---- the Darknet cfg directory -------------------------------------- */

static int supported_section(const char *name)
{
    static const char *const ok[] = {"net",     "network", "convolutional", "conv",    "connected",
                                     "conn",    "maxpool", "max",           "avgpool", "avg",
                                     "route",   "shortcut", "upsample",     "reorg",   "softmax",
                                     "soft",    "dropout", "cost",          "yolo",    "region",
                                     "batchnorm"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(name, ok[i]) == 0) return 1;
    return 0;
}

/* Cfgs whose sections are all supported but which use an option ecnet
 * refuses (softmax trees, reorg extra=): they must fail naming the line. */
static const struct {
    const char *file;
    int line;
} option_refused[] = {
    {"darknet9000.cfg", 201}, {"go.cfg", 128}, {"go.test.cfg", 127}, {"yolo9000.cfg", 217}};

static int refused_line(const char *file)
{
    for (size_t i = 0; i < sizeof option_refused / sizeof option_refused[0]; i++)
        if (strcmp(file, option_refused[i].file) == 0) return option_refused[i].line;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_darknet_cfgs(void)
{
    DIR *d = opendir(CFG_DIR);
    if (!d) {
        test_skip(CFG_DIR " is absent (darknet package not installed)");
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".cfg") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int built = 0, refused = 0;
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CFG_DIR, names[i]);
        ecn_cfg cfg;
        ecn_err err;
        if (ecn_cfg_read(path, &cfg, &err)) {
            CHECK(0, "%s: the cfg reader fails: %s", names[i], err.msg);
            continue;
        }
        int bad_line = 0;
        char bad_name[128] = "";
        for (int s = 0; s < cfg.n_sections && !bad_line; s++)
            if (!supported_section(cfg.sections[s].name)) {
                bad_line = cfg.sections[s].line;
                snprintf(bad_name, sizeof bad_name, "unknown section [%s]", cfg.sections[s].name);
            }
        int n_layers = cfg.n_sections - 1;
        ecn_cfg_free(&cfg);

        ecn_net *net = NULL;
        int rc = ecn_net_from_cfg(path, &one_thread, &net, &err);
        char where[600];
        if (bad_line || refused_line(names[i])) {
            int line = bad_line ? bad_line : refused_line(names[i]);
            snprintf(where, sizeof where, "%s:%d:", path, line);
            CHECK(rc == -1, "%s: uses an unsupported feature at line %d but built", names[i], line);
            if (rc == 0) {
                ecn_net_free(net);
                continue;
            }
            CHECK(strstr(err.msg, where) != NULL, "%s: message should name %s: %s", names[i], where,
                  err.msg);
            const char *what = bad_line ? bad_name : "not supported";
            CHECK(strstr(err.msg, what) != NULL, "%s: message should say '%s': %s", names[i], what,
                  err.msg);
            refused++;
        } else {
            CHECK(rc == 0, "%s: should build: %s", names[i], rc ? err.msg : "");
            if (rc) continue;
            CHECK(ecn_net_layer_count(net) == n_layers, "%s: %d layers, expected %d", names[i],
                  ecn_net_layer_count(net), n_layers);
            /* Every layer has a non-empty output, and chains to its predecessor. */
            for (int k = 0; k < ecn_net_layer_count(net); k++) {
                ecn_layer_info li;
                ecn_net_layer_info(net, k, &li);
                if (!(li.out.c > 0 && li.out.h > 0 && li.out.w > 0 && li.line > 0)) {
                    CHECK(0, "%s: layer %d has output %dx%dx%d (line %d)", names[i], k, li.out.w,
                          li.out.h, li.out.c, li.line);
                    break;
                }
            }
            ecn_net_free(net);
            built++;
        }
    }
    for (int i = 0; i < n; i++) free(names[i]);
    /* The package ships 33 buildable cfgs and 12 that use unsupported parts. */
    CHECK(built >= 30, "only %d Darknet cfgs built", built);
    CHECK(refused >= 8, "only %d Darknet cfgs were refused", refused);
    printf("darknet cfgs: %d built, %d refused with file:line\n", built, refused);
}

static void expect_shape(const ecn_net *net, int layer, int w, int h, int c, const char *label)
{
    ecn_layer_info li;
    ecn_net_layer_info(net, layer, &li);
    CHECK(li.out.w == w && li.out.h == h && li.out.c == c, "%s layer %d: %dx%dx%d, expected %dx%dx%d",
          label, layer, li.out.w, li.out.h, li.out.c, w, h, c);
}

static double total_bflops(const ecn_net *net)
{
    double f = 0;
    for (int i = 0; i < ecn_net_layer_count(net); i++) {
        ecn_layer_info li;
        ecn_net_layer_info(net, i, &li);
        f += li.flops;
    }
    return f / 1e9;
}

static void test_known_shapes(void)
{
    ecn_net *net;
    ecn_err err;
    ecn_load_opts at416 = {.batch = 1, .width = 416, .height = 416, .threads = 1};
    if (ecn_net_from_cfg(CFG_DIR "/yolov3.cfg", &at416, &net, &err)) {
        test_skip("yolov3.cfg: %s", err.msg);
        return;
    }
    CHECK(ecn_net_layer_count(net) == 107, "yolov3: %d layers, expected 107", ecn_net_layer_count(net));
    ecn_shape in = ecn_net_input_shape(net);
    CHECK(in.w == 416 && in.h == 416 && in.c == 3, "yolov3 input %dx%dx%d", in.w, in.h, in.c);
    expect_shape(net, 0, 416, 416, 32, "yolov3");
    expect_shape(net, 81, 13, 13, 255, "yolov3");
    expect_shape(net, 82, 13, 13, 255, "yolov3");
    expect_shape(net, 86, 26, 26, 768, "yolov3"); /* route 85 61 */
    expect_shape(net, 94, 26, 26, 255, "yolov3");
    expect_shape(net, 106, 52, 52, 255, "yolov3");
    ecn_layer_info li;
    ecn_net_layer_info(net, 82, &li);
    CHECK(strcmp(li.type, "yolo") == 0, "yolov3 layer 82 is %s", li.type);
    ecn_net_layer_info(net, 0, &li);
    CHECK(strcmp(li.type, "convolutional") == 0 && li.line > 0, "yolov3 layer 0: %s line %d", li.type,
          li.line);
    /* The sum of Darknet's per-layer figures: 65.86 Bn, as on the YOLO page. */
    double bf = total_bflops(net);
    CHECK(fabs(bf - 65.864) < 0.01, "yolov3 at 416: %.3f BFLOPs, Darknet says 65.864", bf);
    ecn_net_free(net);

    if (ecn_net_from_cfg(CFG_DIR "/darknet53.cfg", &one_thread, &net, &err) == 0) {
        bf = total_bflops(net);
        CHECK(fabs(bf - 18.57) < 0.01, "darknet53: %.3f BFLOPs, Darknet says 18.57", bf);
        CHECK(ecn_net_layer_count(net) == 78, "darknet53: %d layers", ecn_net_layer_count(net));
        expect_shape(net, 74, 8, 8, 1024, "darknet53");
        expect_shape(net, 77, 1, 1, 1000, "darknet53");
        ecn_net_free(net);
    } else {
        CHECK(0, "darknet53.cfg: %s", err.msg);
    }

    if (ecn_net_from_cfg(CFG_DIR "/yolov3-tiny.cfg", &at416, &net, &err) == 0) {
        CHECK(ecn_net_layer_count(net) == 24, "yolov3-tiny: %d layers", ecn_net_layer_count(net));
        expect_shape(net, 11, 13, 13, 512, "yolov3-tiny"); /* maxpool size 2 stride 1 */
        expect_shape(net, 16, 13, 13, 255, "yolov3-tiny");
        expect_shape(net, 20, 26, 26, 384, "yolov3-tiny");
        expect_shape(net, 23, 26, 26, 255, "yolov3-tiny");
        ecn_net_free(net);
    } else {
        CHECK(0, "yolov3-tiny.cfg: %s", err.msg);
    }

    if (ecn_net_from_cfg(CFG_DIR "/yolov2.cfg", &at416, &net, &err) == 0) {
        CHECK(ecn_net_layer_count(net) == 32, "yolov2: %d layers", ecn_net_layer_count(net));
        expect_shape(net, 27, 13, 13, 256, "yolov2"); /* reorg 26x26x64 -> 13x13x256 */
        expect_shape(net, 28, 13, 13, 1280, "yolov2");
        expect_shape(net, 30, 13, 13, 425, "yolov2");
        expect_shape(net, 31, 13, 13, 425, "yolov2");
        ecn_net_free(net);
    } else {
        CHECK(0, "yolov2.cfg: %s", err.msg);
    }

    /* The size override changes shapes; the cfg's own size otherwise. */
    if (ecn_net_from_cfg(CFG_DIR "/yolov3-tiny.cfg", &one_thread, &net, &err) == 0) {
        in = ecn_net_input_shape(net);
        CHECK(in.w == 416 && in.h == 416, "yolov3-tiny cfg size %dx%d", in.w, in.h);
        ecn_net_free(net);
    }
    ecn_load_opts odd = {.batch = 3, .width = 320, .height = 192, .threads = 1};
    if (ecn_net_from_cfg(CFG_DIR "/yolov3-tiny.cfg", &odd, &net, &err) == 0) {
        CHECK(ecn_net_batch(net) == 3, "batch %d", ecn_net_batch(net));
        expect_shape(net, 16, 10, 6, 255, "yolov3-tiny 320x192");
        ecn_net_free(net);
    } else {
        CHECK(0, "yolov3-tiny.cfg at 320x192: %s", err.msg);
    }

    CHECK(ecn_net_from_cfg("/nonexistent/dir/x.cfg", NULL, &net, &err) == -1 &&
              strstr(err.msg, "/nonexistent/dir/x.cfg") != NULL,
          "a missing cfg file names the path: %s", err.msg);
}

/* ---- errors --------------------------------------------------------- */

#define NET8 "[net]\nwidth=8\nheight=8\nchannels=3\n" /* lines 1-4 */

static void test_errors(void)
{
    expect_error("unknown section", NET8 "[convolutinal]\nfilters=4\n", 5,
                 "unknown section [convolutinal]");
    expect_error("unknown section gru", NET8 "[convolutional]\nfilters=4\n\n[gru]\noutput=8\n", 8,
                 "unknown section [gru]");
    expect_error("option before any section", "\n# top\nwidth=8\n[net]\nheight=8\n", 3,
                 "before any [section]");
    expect_error("line without '='", NET8 "[convolutional]\nfilters 4\n", 6, "expected key=value");
    expect_error("line with '=' first", NET8 "[convolutional]\n=4\n", 6, "expected key=value");
    expect_error("unterminated section", NET8 "[convolutional\nfilters=4\n", 5,
                 "expected a section header");
    expect_error("empty section name", NET8 "[]\nfilters=4\n", 5, "expected a section header");
    expect_error("bad integer", NET8 "[convolutional]\nsize=3\nfilters=4x\n", 7, "expected an integer");
    expect_error("empty integer", NET8 "[convolutional]\nfilters=\n", 6, "expected an integer");
    expect_error("integer overflow", NET8 "[convolutional]\nfilters=99999999999\n", 6,
                 "expected an integer");
    expect_error("float for integer", NET8 "[maxpool]\nsize=2.5\n", 6, "expected an integer");
    expect_error("bad float", "[net]\nwidth=8\nheight=8\nchannels=3\nsaturation=1.5x\n[maxpool]\n", 5,
                 "expected a number");
    expect_error("float overflow", NET8 "[dropout]\nprobability=1e999\n", 6, "expected a number");
    expect_error("nan float", NET8 "[shortcut]\nfrom=-1\nalpha=nan\n", 7, "expected a number");
    expect_error("bad list item", NET8 "[convolutional]\nfilters=4\n[route]\nlayers=-1,x\n", 8,
                 "is not a number");
    expect_error("unknown activation", NET8 "[convolutional]\nfilters=4\nactivation=leeky\n", 7,
                 "unknown activation");
    expect_error("unknown connected activation", NET8 "[connected]\noutput=4\nactivation=relu6\n", 7,
                 "unknown activation");
    expect_error("unknown policy", "[net]\nwidth=8\nheight=8\nchannels=3\npolicy=stepz\n[maxpool]\n",
                 5, "expected constant, step");
    /* routes */
    expect_error("route to a missing layer", NET8 "[convolutional]\nfilters=4\n[route]\nlayers=-5\n",
                 8, "expected an earlier layer");
    expect_error("route to itself", NET8 "[convolutional]\nfilters=4\n[route]\nlayers=1\n", 8,
                 "expected an earlier layer");
    expect_error("route to a later layer",
                 NET8 "[convolutional]\nfilters=4\n[route]\nlayers=0,2\n[convolutional]\nfilters=2\n", 8,
                 "expected an earlier layer");
    expect_error("route first", NET8 "[route]\nlayers=-1\n", 6, "route is the first layer");
    expect_error("route without layers", NET8 "[convolutional]\nfilters=4\n\n[route]\n", 8,
                 "expected layers=");
    expect_error("route mismatched sizes",
                 NET8 "[convolutional]\nfilters=4\n[maxpool]\nsize=2\nstride=2\n[route]\nlayers=-1,-2\n",
                 11, "same width and height");
    /* shortcut */
    expect_error("shortcut from a later layer",
                 NET8 "[convolutional]\nfilters=4\n[convolutional]\nfilters=4\n[shortcut]\nfrom=3\n", 10,
                 "expected an earlier layer");
    expect_error("shortcut from itself",
                 NET8 "[convolutional]\nfilters=4\n[shortcut]\nfrom=1\n", 8, "expected an earlier layer");
    expect_error("shortcut without from", NET8 "[convolutional]\nfilters=4\n[shortcut]\n", 7,
                 "expected from=");
    /* yolo / region heads */
    expect_error("yolo with wrong filters",
                 "[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=20\nsize=1\n"
                 "[yolo]\nmask=0,1,2\nanchors=1,2,3,4,5,6\nclasses=1\nnum=3\n",
                 8, "set filters=18");
    expect_error("yolo mask out of range",
                 "[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=18\nsize=1\n"
                 "[yolo]\nmask=0,1,3\nanchors=1,2,3,4,5,6\nclasses=1\nnum=3\n",
                 9, "outside 0..2");
    /* [net] */
    expect_error("first section not [net]", "[convolutional]\nfilters=4\n[maxpool]\n", 1,
                 "first section must be [net]");
    expect_error("no layers", NET8, 0, "no layers after [net]");
    expect_error("no sections", "# nothing here\n\n", 0, "no sections");
    expect_error("empty text", "", 0, "no sections");
    expect_error("no input size", "[net]\nbatch=1\n[maxpool]\n", 1, "expected width, height and channels");
    expect_error("zero width", "[net]\nwidth=0\nheight=8\nchannels=3\n[maxpool]\n", 1,
                 "expected width, height and channels");
    expect_error("negative width", "[net]\nwidth=-8\nheight=8\nchannels=3\n[maxpool]\n", 2,
                 "expected an integer from 0");
    expect_error("huge width", "[net]\nwidth=1000000\nheight=8\nchannels=3\n[maxpool]\n", 2,
                 "expected an integer from 0");
    expect_error("huge input", "[net]\nwidth=65536\nheight=65536\nchannels=3\n[maxpool]\n", 1,
                 "too large");
    /* sizes */
    expect_error("kernel larger than input", "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\n"
                                             "filters=2\nsize=7\nstride=1\n",
                 7, "kernel larger");
    expect_error("maxpool larger than input", "[net]\nwidth=4\nheight=4\nchannels=1\n[maxpool]\n"
                                              "size=9\nstride=1\npadding=0\n",
                 6, "larger than");
    expect_error("zero filters", NET8 "[convolutional]\nfilters=0\n", 6, "expected an integer from 1");
    expect_error("negative filters", NET8 "[convolutional]\nfilters=-3\n", 6, "expected an integer from 1");
    expect_error("zero size", NET8 "[convolutional]\nfilters=2\nsize=0\n", 7, "expected an integer from 1");
    expect_error("negative stride", NET8 "[convolutional]\nfilters=2\nstride=-1\n", 7,
                 "expected an integer from 1");
    expect_error("groups not dividing", NET8 "[convolutional]\nfilters=4\ngroups=2\n", 7, "divide by groups");
    expect_error("zero connected outputs", NET8 "[connected]\noutput=0\n", 6, "expected output >= 1");
    expect_error("zero maxpool stride", NET8 "[maxpool]\nstride=0\nsize=2\n", 6, "expected stride >= 1");
    expect_error("negative maxpool size", NET8 "[maxpool]\nsize=-2\n", 6, "expected size >= 1");
    expect_error("zero upsample stride", NET8 "[upsample]\nstride=0\n", 6, "expected stride >= 1");
    expect_error("negative upsample stride", NET8 "[upsample]\nstride=-2\n", 6, "not supported");
    expect_error("softmax groups", NET8 "[softmax]\ngroups=5\n", 6, "positive divisor");
    expect_error("dropout probability", NET8 "[dropout]\nprobability=1\n", 6, "probability in [0, 1)");
    expect_error("reorg stride", NET8 "[reorg]\nstride=0\n", 6, "expected stride >= 1");
    /* The error of a later section does not hide behind an earlier one's
     * line: the right line is reported deep in a file. */
    expect_error("deep line", NET8 "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n\n"
                                   "[maxpool]\nsize=2\nstride=2\n\n[convolutional]\nfilters=4\n"
                                   "activation=swish\n",
                 17, "unknown activation");

    /* *out is NULL and the message filled even without a name. */
    ecn_net *net = (ecn_net *)1;
    ecn_err err = {{0}};
    const char *bad = "[net]\nwidth=8\x01\n";
    CHECK(ecn_net_from_cfg_text(bad, strlen(bad), NULL, NULL, &net, &err) == -1 && net == NULL &&
              err.msg[0],
          "nameless bad cfg: %s", err.msg);
    static const char nul[] = "[net]\nwidth=8\0\nheight=8\n";
    CHECK(ecn_net_from_cfg_text(nul, sizeof nul - 1, NULL, NULL, &net, &err) == -1 && net == NULL &&
              strstr(err.msg, ":2:") && strstr(err.msg, "NUL") && !strstr(err.msg, "(null)"),
          "NUL byte in a nameless cfg: %s", err.msg);
}

/* ---- warnings ------------------------------------------------------- */

static int find_warning(const ecn_net *net, const char *a, const char *b)
{
    for (int i = 0; i < ecn_net_warning_count(net); i++) {
        const char *w = ecn_net_warning(net, i);
        if (w && strstr(w, a) && (!b || strstr(w, b))) return 1;
    }
    return 0;
}

static void test_warnings(void)
{
    ecn_net *net;
    ecn_err err;
    const char *typo = NET8 "[convolutional]\nfiltres=16\nfilters=4\nsize=3\n";
    if (build(typo, &net, &err)) {
        CHECK(0, "typo cfg: %s", err.msg);
        return;
    }
    CHECK(ecn_net_warning_count(net) == 1, "one warning for a typo, got %d", ecn_net_warning_count(net));
    CHECK(find_warning(net, "t.cfg:6:", "filtres"), "warning names line 6 and 'filtres': %s",
          ecn_net_warning(net, 0) ? ecn_net_warning(net, 0) : "(none)");
    CHECK(ecn_net_warning(net, 1) == NULL && ecn_net_warning(net, -1) == NULL,
          "out-of-range warnings are NULL");
    expect_shape(net, 0, 6, 6, 4, "typo");
    ecn_net_free(net);

    const char *twice = NET8 "[convolutional]\nfilters=4\nsize=1\nfilters=8\n";
    if (build(twice, &net, &err)) {
        CHECK(0, "repeated key: %s", err.msg);
        return;
    }
    expect_shape(net, 0, 8, 8, 4, "repeated filters= keeps the first value");
    CHECK(ecn_net_warning_count(net) == 1 && find_warning(net, "t.cfg:8:", "repeats line 6"),
          "repeated key warns at line 8 naming line 6: %s",
          ecn_net_warning(net, 0) ? ecn_net_warning(net, 0) : "(none)");
    ecn_net_free(net);

    /* A repeated key whose second value is bad is not read, so no error. */
    const char *twice_bad = NET8 "[convolutional]\nfilters=4\nfilters=oops\n";
    CHECK(build(twice_bad, &net, &err) == 0, "the ignored repeat is not parsed: %s", err.msg);
    if (net) ecn_net_free(net);

    /* Clean cfgs have no warnings; [net] training options are all read. */
    const char *clean = "[net]\nbatch=64\nsubdivisions=16\nwidth=8\nheight=8\nchannels=3\nmomentum=0.9\n"
                        "decay=0.0005\nangle=0\nsaturation=1.5\nexposure=1.5\nhue=.1\n"
                        "learning_rate=0.001\nburn_in=1000\nmax_batches=500200\npolicy=steps\n"
                        "steps=400000,450000\nscales=.1,.1\n[convolutional]\nbatch_normalize=1\n"
                        "filters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n";
    if (build(clean, &net, &err) == 0) {
        CHECK(ecn_net_warning_count(net) == 0, "clean cfg warns: %s", ecn_net_warning(net, 0));
        CHECK(net->train.n_steps == 2 && net->train.steps[1] == 450000 && net->train.batch == 64,
              "[net] steps parsed: %d steps", net->train.n_steps);
        CHECK(ecn_net_batch(net) == 1, "cfg batch=64 does not set the inference batch");
        ecn_net_free(net);
    } else {
        CHECK(0, "clean cfg: %s", err.msg);
    }
    expect_error("steps without matching scales",
                 "[net]\nwidth=8\nheight=8\nchannels=3\npolicy=steps\nsteps=1,2\nscales=.1\n[maxpool]\n",
                 7, "as many scales as steps");
}

/* ---- whitespace and comments ----------------------------------------- */

static char *to_crlf(const char *s)
{
    char *out = malloc(2 * strlen(s) + 1), *p = out;
    for (; *s; s++) {
        if (*s == '\n') *p++ = '\r';
        *p++ = *s;
    }
    *p = 0;
    return out;
}

static void same_layers(const ecn_net *a, const ecn_net *b, const char *label)
{
    CHECK(ecn_net_layer_count(a) == ecn_net_layer_count(b), "%s: layer counts %d vs %d", label,
          ecn_net_layer_count(a), ecn_net_layer_count(b));
    for (int i = 0; i < ecn_net_layer_count(a) && i < ecn_net_layer_count(b); i++) {
        ecn_layer_info x, y;
        ecn_net_layer_info(a, i, &x);
        ecn_net_layer_info(b, i, &y);
        CHECK(strcmp(x.type, y.type) == 0 && x.line == y.line && x.out.c == y.out.c &&
                  x.out.h == y.out.h && x.out.w == y.out.w && strcmp(x.detail, y.detail) == 0,
              "%s: layer %d differs: %s line %d %s vs %s line %d %s", label, i, x.type, x.line,
              x.detail, y.type, y.line, y.detail);
    }
}

static void test_whitespace(void)
{
    const char *plain = "[net]\nwidth=16\nheight=16\nchannels=3\nsaturation=1.5\n[convolutional]\n"
                        "filters=8\nsize=3\nstride=2\npad=1\nactivation=leaky\n[maxpool]\nsize=2\n"
                        "stride=2\n[route]\nlayers=-1,-1\n";
    const char *messy = "# a comment\n"
                        "; another comment, width=999\n"
                        "  [net]  \n"
                        "width = 16\n"
                        "\theight\t=\t16\n"
                        "channels =3 \n"
                        "saturation = 1.5\n"
                        "\n"
                        "   \n"
                        "[convolutional]\n"
                        "#filters=99\n"
                        "filters= 8\n"
                        "size =3\n"
                        "stri de=2\n" /* Darknet strips every blank, inside keys too */
                        "pad=1\n"
                        ";activation=linear\n"
                        "activation = leaky\n"
                        "[ maxpool ]\n"
                        "size=2\n"
                        "stride=2\n"
                        "[route]\n"
                        "layers = -1, -1\n";
    ecn_net *a = NULL, *b = NULL, *c = NULL;
    ecn_err err;
    CHECK(build(plain, &a, &err) == 0, "plain: %s", err.msg);
    CHECK(build(messy, &b, &err) == 0, "whitespace and comments: %s", err.msg);
    if (!a || !b) goto out;
    CHECK(ecn_net_warning_count(b) == 0, "messy cfg warns: %s", ecn_net_warning(b, 0));
    CHECK(fabsf(b->train.saturation - 1.5f) == 0, "saturation = 1.5 read as %g", b->train.saturation);
    expect_shape(b, 0, 8, 8, 8, "messy");
    expect_shape(b, 1, 4, 4, 8, "messy");
    expect_shape(b, 2, 4, 4, 16, "messy: layers = -1, -1");

    /* CRLF: same network; errors count lines the same way. */
    char *crlf = to_crlf(plain);
    CHECK(build(crlf, &c, &err) == 0, "CRLF: %s", err.msg);
    free(crlf);
    if (c) {
        CHECK(ecn_net_warning_count(c) == 0, "CRLF warns: %s", ecn_net_warning(c, 0));
        same_layers(a, c, "CRLF");
        CHECK(fabsf(c->train.saturation - 1.5f) == 0, "CRLF saturation %g", c->train.saturation);
    }
    char *crlf_bad = to_crlf(NET8 "[convolutional]\nfilters=4\nactivation=leeky\n");
    expect_error("CRLF error line", crlf_bad, 7, "unknown activation");
    free(crlf_bad);
    /* A file without a final newline, and one with a lone CR line. */
    expect_error("no final newline", NET8 "[convolutional]\nfilters=x", 6, "expected an integer");
out:
    ecn_net_free(a);
    ecn_net_free(b);
    ecn_net_free(c);
}

/* The reader itself: sections, lines, options, lists, typed access. */
static void test_cfg_reader(void)
{
    ecn_cfg cfg;
    ecn_err err;
    const char *text = "# c\n[net]\r\n a = 1 \r\nb=x=y\n;\n[yolo]\nmask = 0, 1,2\n[Conv]\nk=\n";
    if (ecn_cfg_parse(text, strlen(text), "r.cfg", &cfg, &err)) {
        CHECK(0, "reader: %s", err.msg);
        return;
    }
    CHECK(cfg.n_sections == 3, "3 sections, got %d", cfg.n_sections);
    if (cfg.n_sections == 3) {
        CHECK(strcmp(cfg.sections[0].name, "net") == 0 && cfg.sections[0].line == 2, "section 0: %s line %d",
              cfg.sections[0].name, cfg.sections[0].line);
        CHECK(cfg.sections[0].n_opts == 2, "net options: %d", cfg.sections[0].n_opts);
        if (cfg.sections[0].n_opts == 2) {
            ecn_option *o = cfg.sections[0].opts;
            CHECK(strcmp(o[0].key, "a") == 0 && strcmp(o[0].value, "1") == 0 && o[0].line == 3,
                  "a=1 at line 3: '%s'='%s' line %d", o[0].key, o[0].value, o[0].line);
            CHECK(strcmp(o[1].key, "b") == 0 && strcmp(o[1].value, "x=y") == 0 && o[1].line == 4,
                  "b=x=y splits at the first '=': '%s'='%s'", o[1].key, o[1].value);
        }
        CHECK(strcmp(cfg.sections[1].name, "yolo") == 0 && cfg.sections[1].line == 6, "section 1");
        CHECK(strcmp(cfg.sections[2].name, "Conv") == 0, "section names keep their case: %s",
              cfg.sections[2].name);
        ecn_opts o = {&cfg, &cfg.sections[1], &err, 0};
        int m[8];
        CHECK(ecn_opt_count(&o, "mask") == 3 && ecn_opt_ints(&o, "mask", m, 8) == 3 && m[0] == 0 &&
                  m[1] == 1 && m[2] == 2 && !o.failed,
              "mask list");
        CHECK(ecn_opt_int(&o, "absent", 7) == 7 && !ecn_opt_has(&o, "absent"), "default value");
        CHECK(ecn_opt_ints(&o, "mask", m, 2) == -1 && o.failed && strstr(err.msg, "r.cfg:7:"),
              "too many list items fail at the option's line: %s", err.msg);
        ecn_opts e = {&cfg, &cfg.sections[2], &err, 0};
        CHECK(ecn_opt_int(&e, "k", 5) == 5 && e.failed && strstr(err.msg, "r.cfg:9:"),
              "empty value is not an integer: %s", err.msg);
        ecn_opts r = {&cfg, &cfg.sections[0], &err, 0};
        CHECK(ecn_opt_int_range(&r, "a", 0, 2, 4) == 0 && r.failed && strstr(err.msg, "from 2 to 4"),
              "range check: %s", err.msg);
    }
    ecn_cfg_free(&cfg);
    CHECK(cfg.n_sections == 0 && cfg.sections == NULL, "free clears the cfg");
    CHECK(ecn_cfg_read("/nonexistent/y.cfg", &cfg, &err) == -1 && strstr(err.msg, "/nonexistent/y.cfg"),
          "missing file: %s", err.msg);
}

/* ---- two networks at once ------------------------------------------- */

static const char *net_a =
    "[net]\nwidth=24\nheight=24\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[convolutional]\nfilters=16\nsize=1\nstride=1\nactivation=linear\n"
    "[shortcut]\nfrom=-2\nactivation=leaky\n"
    "[avgpool]\n[connected]\noutput=10\nactivation=linear\n[softmax]\n";

static const char *net_b =
    "[net]\nwidth=32\nheight=16\nchannels=3\n"
    "[convolutional]\nfilters=6\nsize=3\nstride=2\npad=1\nactivation=relu\n"
    "[convolutional]\nbatch_normalize=1\nfilters=12\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[upsample]\nstride=2\n"
    "[route]\nlayers=-1,0\n"
    "[convolutional]\nfilters=18\nsize=1\nstride=1\nactivation=linear\n"
    "[yolo]\nmask=0,1,2\nanchors=2,3,4,5,6,7\nclasses=1\nnum=3\n";

static float *run_alone(const char *text, int threads, unsigned long long seed, const float *x,
                        size_t *n)
{
    ecn_load_opts lo = {.batch = 1, .threads = threads};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg_text(text, strlen(text), "alone.cfg", &lo, &net, &err)) {
        CHECK(0, "alone: %s", err.msg);
        return NULL;
    }
    ecn_net_randomize(net, seed);
    const float *y = ecn_net_forward(net, x, NULL, NULL);
    ecn_layer_info li;
    ecn_net_layer_info(net, ecn_net_layer_count(net) - 1, &li);
    *n = ecn_shape_size(li.out);
    float *copy = malloc(*n * sizeof *copy);
    memcpy(copy, y, *n * sizeof *copy);
    ecn_net_free(net);
    return copy;
}

static int spread(const float *y, size_t n)
{
    float lo = y[0], hi = y[0];
    for (size_t i = 1; i < n; i++) {
        if (y[i] < lo) lo = y[i];
        if (y[i] > hi) hi = y[i];
    }
    return hi > lo;
}

static void test_two_networks(void)
{
    float xa[24 * 24 * 3], xb[32 * 16 * 3];
    unsigned long long s = 42;
    for (size_t i = 0; i < sizeof xa / sizeof xa[0]; i++) xa[i] = ecn_rng_uniform(&s);
    for (size_t i = 0; i < sizeof xb / sizeof xb[0]; i++) xb[i] = ecn_rng_uniform(&s);
    size_t na = 0, nb = 0;
    float *ya = run_alone(net_a, 1, 1, xa, &na);
    float *yb = run_alone(net_b, 2, 2, xb, &nb);
    if (!ya || !yb) goto out;
    CHECK(na == 10 && nb == 16 * 8 * 18, "output sizes %zu, %zu", na, nb);
    CHECK(spread(ya, na) && spread(yb, nb), "outputs are not constant");

    ecn_load_opts la = {.batch = 1, .threads = 1}, lb = {.batch = 1, .threads = 2};
    ecn_net *a, *b;
    ecn_err err;
    if (ecn_net_from_cfg_text(net_a, strlen(net_a), "a.cfg", &la, &a, &err)) {
        CHECK(0, "a: %s", err.msg);
        goto out;
    }
    if (ecn_net_from_cfg_text(net_b, strlen(net_b), "b.cfg", &lb, &b, &err)) {
        CHECK(0, "b: %s", err.msg);
        ecn_net_free(a);
        goto out;
    }
    ecn_net_randomize(b, 2);
    ecn_net_randomize(a, 1);
    for (int round = 0; round < 3; round++) {
        const float *ob = ecn_net_forward(b, xb, NULL, NULL);
        const float *oa = ecn_net_forward(a, xa, NULL, NULL);
        CHECK(memcmp(oa, ya, na * sizeof(float)) == 0, "round %d: net a differs from running alone", round);
        CHECK(memcmp(ob, yb, nb * sizeof(float)) == 0, "round %d: net b differs from running alone", round);
    }
    /* A third net of the same cfg with another seed differs: the check above can fail. */
    ecn_net *a2;
    if (ecn_net_from_cfg_text(net_a, strlen(net_a), "a2.cfg", &la, &a2, &err) == 0) {
        ecn_net_randomize(a2, 3);
        const float *o2 = ecn_net_forward(a2, xa, NULL, NULL);
        CHECK(memcmp(o2, ya, na * sizeof(float)) != 0, "another seed gives another output");
        const float *oa = ecn_net_forward(a, xa, NULL, NULL);
        CHECK(memcmp(oa, ya, na * sizeof(float)) == 0, "net a unchanged by net a2");
        ecn_net_free(a2);
    }
    ecn_net_free(a);
    /* b still works after a is gone. */
    const float *ob = ecn_net_forward(b, xb, NULL, NULL);
    CHECK(memcmp(ob, yb, nb * sizeof(float)) == 0, "net b after freeing net a");
    ecn_net_free(b);
out:
    free(ya);
    free(yb);
}

int main(void)
{
    test_cfg_reader();
    test_errors();
    test_warnings();
    test_whitespace();
    test_two_networks();
    test_known_shapes();
    test_darknet_cfgs();
    return test_finish("test_cfg");
}
