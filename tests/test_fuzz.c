/* test_fuzz.c - hostile cfg and weights files never crash the library.
 *
 * Meant to run under `make test SANITIZE=1` as well: every case must either
 * build a network (which is then introspected, run once on zeros when it is
 * small, and freed) or fail with -1, *out == NULL and a non-empty message.
 *
 * cfg cases, from real Darknet cfgs (darknet19, yolov3-tiny, yolov2; small
 * built-in texts when the package is absent) and built-in small nets:
 *   - fixed hostile texts: empty, "[net]" alone, binary garbage, NUL bytes,
 *     100 KB lines, unterminated '[', thousands of sections or options;
 *   - every option of interest set to hostile values (2147483647, 0, -1,
 *     1000000, 1e30, nan, "", lists...);
 *   - random mutations from a seeded PRNG: byte flips, deleted, duplicated
 *     and moved lines, inserted sections, truncation.
 * weights cases, against a small net with every parametric layer: random
 * bytes, every truncation, oversized, hostile headers, NaN/Inf/huge values
 * (then a forward pass and box decoding must not crash).
 *
 * Deterministic: the PRNG seed is fixed (argv[1] overrides it).  With
 * FUZZ_SLOW=1 in the environment, cases slower than 20 ms are listed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ecnet.h"
#include "testlib.h"

#define CFG_DIR "/usr/share/darknet/cfg/"
#define MAX_FORWARD_BYTES (64u << 20) /* skip the forward pass of bigger nets */
#define MAX_FORWARD_FLOPS 4e7         /* and of slow ones */

/* Mutated cfgs may ask for terabytes (a failed allocation must be reported,
 * not crash) or for a few legal but huge gigabytes (which would only make the
 * test slow and could exhaust the machine).  So allocations are capped: under
 * AddressSanitizer each one at 512 MB, returning NULL as plain malloc would
 * instead of aborting; otherwise the address space at 2 GB more than what the
 * process holds when the fuzzing starts.  Either way the library's
 * out-of-memory paths get exercised too. */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1:max_allocation_size_mb=512"; }
static void cap_memory(void) {}
#else
static void cap_memory(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return;
    int got = fscanf(f, "%lu", &pages);
    fclose(f);
    if (got != 1) return;
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) != 0) return;
    rlim_t want = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)2 << 30);
    if (r.rlim_max != RLIM_INFINITY && want > r.rlim_max) want = r.rlim_max;
    if (r.rlim_cur == RLIM_INFINITY || r.rlim_cur > want) {
        r.rlim_cur = want;
        setrlimit(RLIMIT_AS, &r);
    }
}
#endif

static uint64_t rng_state = 0x5eed5eed12345ULL;

static uint64_t rnd(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- a growable byte buffer ------------------------------------------ */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void buf_reserve(buf *b, size_t n)
{
    if (n <= b->cap) return;
    b->cap = n * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
}

static void buf_set(buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p, s, n);
    b->n = n;
}

static void buf_insert(buf *b, size_t at, const char *s, size_t n)
{
    buf_reserve(b, b->n + n);
    memmove(b->p + at + n, b->p + at, b->n - at);
    memcpy(b->p + at, s, n);
    b->n += n;
}

static void buf_erase(buf *b, size_t at, size_t n)
{
    memmove(b->p + at, b->p + at + n, b->n - at - n);
    b->n -= n;
}

static void buf_puts(buf *b, const char *s) { buf_insert(b, b->n, s, strlen(s)); }

/* Bounds [start, end) of the line holding position pos (end includes '\n'). */
static void line_at(const buf *b, size_t pos, size_t *start, size_t *end)
{
    size_t s = pos, e = pos;
    while (s > 0 && b->p[s - 1] != '\n') s--;
    while (e < b->n && b->p[e] != '\n') e++;
    if (e < b->n) e++;
    *start = s;
    *end = e;
}

/* ---- running one case ------------------------------------------------ */

typedef struct stats {
    int cases, built, failed, forwarded, too_big, detections;
    int bad; /* cases that broke the contract */
} stats;

static stats st;

static void run_cfg(const char *text, size_t len, int size, int batch, const char *label)
{
    ecn_load_opts lo = {.batch = batch, .width = size, .height = size, .threads = 1};
    ecn_net *net = (ecn_net *)&lo; /* must come back NULL on failure */
    double t0 = now();
    ecn_err err;
    memset(err.msg, 0x55, sizeof err.msg);
    st.cases++;
    int rc = ecn_net_from_cfg_text(text, len, "fuzz.cfg", &lo, &net, &err);
    if (rc != 0) {
        size_t ml = strnlen(err.msg, sizeof err.msg);
        int ok = rc == -1 && net == NULL && ml > 0 && ml < sizeof err.msg &&
                 strncmp(err.msg, "fuzz.cfg", 8) == 0;
        if (!ok) st.bad++;
        CHECK(ok, "%s: rc %d, net %p, message '%.*s'", label, rc, (void *)net,
              (int)(ml < 200 ? ml : 200), err.msg);
        st.failed++;
        return;
    }
    st.built++;
    if (!net) {
        CHECK(0, "%s: built but *out is NULL", label);
        st.bad++;
        return;
    }
    /* Introspection must work on whatever was built. */
    double flops = 0;
    int n = ecn_net_layer_count(net), heads = 0, shapes_ok = n > 0;
    for (int i = 0; i < n; i++) {
        ecn_layer_info li;
        ecn_net_layer_info(net, i, &li);
        flops += li.flops;
        shapes_ok &= li.out.c > 0 && li.out.h > 0 && li.out.w > 0 && li.type && strlen(li.detail) < 64;
        heads += strcmp(li.type, "yolo") == 0 || strcmp(li.type, "region") == 0;
    }
    for (int i = 0; i < ecn_net_warning_count(net); i++) shapes_ok &= ecn_net_warning(net, i) != NULL;
    CHECK(shapes_ok, "%s: built a net with an empty layer or bad warnings", label);
    size_t mem = ecn_net_memory_bytes(net);
    if (mem > MAX_FORWARD_BYTES || flops > MAX_FORWARD_FLOPS) {
        st.too_big++;
    } else {
        ecn_shape s = ecn_net_input_shape(net);
        float *x = calloc(ecn_shape_size(s) * (size_t)ecn_net_batch(net), sizeof *x);
        const float *y = ecn_net_forward(net, x, NULL, NULL);
        CHECK(y != NULL, "%s: forward returned NULL", label);
        free(x);
        st.forwarded++;
        if (heads) {
            /* Zero weights: every box has objectness .5; decode them all. */
            ecn_detect_opts d = {.thresh = .1f, .nms = .45f, .image_w = 640,
                                 .image_h = 480, .letterboxed = 1};
            ecn_detection *dets = NULL;
            int count = 0;
            if (ecn_net_detections(net, &d, &dets, &count, &err) == 0) {
                ecn_detections_free(dets, count);
                st.detections++;
            } else {
                CHECK(err.msg[0] != 0, "%s: detections failed without a message", label);
            }
        }
    }
    ecn_net_free(net);
    if (getenv("FUZZ_SLOW") && now() - t0 > 0.02) /* FUZZ_SLOW=1: which cases cost time */
        fprintf(stderr, "slow: %.3f s %s (%zu bytes)\n", now() - t0, label, mem);
}

/* ---- base texts ------------------------------------------------------ */

static const char *builtin[] = {
    /* a classifier */
    "[net]\nbatch=1\nwidth=32\nheight=32\nchannels=3\nsaturation=1.5\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=relu\n"
    "[dropout]\nprobability=.5\n"
    "[convolutional]\nfilters=16\nsize=1\nstride=1\nactivation=linear\n"
    "[shortcut]\nfrom=-3\nactivation=leaky\n"
    "[batchnorm]\n"
    "[avgpool]\n"
    "[connected]\noutput=10\nactivation=linear\n"
    "[softmax]\ngroups=1\n"
    "[cost]\ntype=sse\n",
    /* a tiny YOLOv3 */
    "[net]\nwidth=64\nheight=64\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=1\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=18\nactivation=linear\n"
    "[yolo]\nmask=3,4,5\nanchors=10,14,23,27,37,58,81,82,135,169,344,319\nclasses=1\nnum=6\n"
    "jitter=.3\nignore_thresh=.7\ntruth_thresh=1\nrandom=1\n"
    "[route]\nlayers=-3\n"
    "[upsample]\nstride=2\n"
    "[route]\nlayers=-1,0\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=18\nactivation=linear\n"
    "[yolo]\nmask=0,1,2\nanchors=10,14,23,27,37,58,81,82,135,169,344,319\nclasses=1\nnum=6\n",
    /* a tiny YOLOv2 with reorg */
    "[net]\nwidth=32\nheight=32\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[route]\nlayers=0\n"
    "[reorg]\nstride=4\n"
    "[route]\nlayers=-1,-3\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=30\nactivation=linear\n"
    "[region]\nanchors=1,1,2,2,3,3,4,4,5,5\nbias_match=1\nclasses=1\ncoords=4\nnum=5\nsoftmax=1\n"
    "thresh=.6\nrandom=1\n",
    /* reverse reorg, upsample with a scale, grouped convolution */
    "[net]\nwidth=16\nheight=16\nchannels=4\n"
    "[convolutional]\nfilters=16\ngroups=4\nsize=3\nstride=1\npad=1\nactivation=logistic\n"
    "[reorg]\nstride=2\nreverse=1\n"
    "[upsample]\nstride=1\nscale=0.5\n"
    "[maxpool]\nsize=3\nstride=2\n"
    "[connected]\noutput=4\nbatch_normalize=1\nactivation=tanh\n"
    "[softmax]\ngroups=2\ntemperature=2\n",
};
#define N_BUILTIN ((int)(sizeof builtin / sizeof builtin[0]))

typedef struct base {
    char *text;
    size_t len;
    int size; /* input size override for runs that may forward */
    const char *name;
    int heavy; /* 20-50 M parameters: building costs more, so it is picked less often */
} base;

static int load_bases(base *bases)
{
    static const struct {
        const char *file;
        int size;
    } files[] = {{"darknet19.cfg", 32}, {"yolov3-tiny.cfg", 64}, {"yolov2.cfg", 32}};
    memset(bases, 0, 16 * sizeof *bases);
    int n = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, CFG_DIR "%s", files[i].file);
        size_t len;
        char *t = (char *)test_read_file(path, &len);
        if (!t) continue;
        bases[n++] = (base){t, len, files[i].size, files[i].file, strcmp(files[i].file, "yolov3-tiny.cfg") != 0};
    }
    if (n == 0) test_skip("Darknet cfgs absent: fuzzing the built-in texts only");
    for (int i = 0; i < N_BUILTIN; i++) {
        size_t len = strlen(builtin[i]);
        char *t = malloc(len);
        memcpy(t, builtin[i], len);
        bases[n++] = (base){t, len, 0, "built-in", 0};
    }
    return n;
}

/* ---- fixed hostile texts --------------------------------------------- */

static void fixed_cases(void)
{
    static const char *texts[] = {
        "", "\n", "[net]", "[net]\n", "[", "[net", "[net\n[conv]\n", "]", "[]", "[[net]]", "=", "==",
        "[net]\n=\n", "[net]\nwidth=\n", "[net]\n[net]\n", "[net]\nwidth=8\nheight=8\nchannels=3\n[net]\n",
        "[net]\nwidth=8\nheight=8\nchannels=3\n[]\n", "[net]\nwidth=8\nheight=8\nchannels=3\n[\n",
        "[net]\ninputs=10\n[connected]\noutput=3\n[softmax]\n",
        "[net]\ninputs=10\n[convolutional]\nfilters=3\nsize=3\n",
        "[net]\ninputs=10\n[maxpool]\n", "[net]\ninputs=-10\n[maxpool]\n",
        "[network]\nwidth=8\nheight=8\nchannels=3\n[conv]\nfilters=1\n[avg]\n[soft]\n",
        "#\n;\n#[net]\n", "\r\n\r\n\r\n", "[net]\r", "[net]\nwidth=8\rheight=8\n",
        "[net]\nwidth=8\nheight=8\nchannels=3\n[route]\nlayers=-1\n",
        "[net]\nwidth=8\nheight=8\nchannels=3\n[shortcut]\nfrom=-1\n",
        "[net]\nwidth=8\nheight=8\nchannels=3\n[yolo]\n",
        "[net]\nwidth=8\nheight=8\nchannels=3\n[region]\n",
        "[net]\nwidth=8\nheight=8\nchannels=3\n[cost]\n",
        "[net]\nwidth=8\nheight=8\nchannels=3\n[avgpool]\n[avgpool]\n[maxpool]\nsize=2\nstride=2\n",
        "[net]\nwidth=8\nheight=8\nchannels=3\n[upsample]\nstride=65536\n",
        "[net]\nwidth=65536\nheight=65536\nchannels=1\n[maxpool]\n",
        "[net]\nwidth=65536\nheight=1\nchannels=65536\n[maxpool]\n",
        "[net]\nwidth=1\nheight=1\nchannels=1\n[convolutional]\nfilters=1048576\nsize=1\n"
        "[convolutional]\nfilters=1048576\nsize=1\n",
        "[net]\nwidth=1\nheight=1\nchannels=1\n[connected]\noutput=2147483647\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[maxpool]\nsize=1\nstride=1\npadding=2147483647\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[maxpool]\nsize=2147483647\nstride=1\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[maxpool]\nsize=2\nstride=2147483647\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[reorg]\nstride=2147483647\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[reorg]\nstride=65536\nreverse=1\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[shortcut]\nfrom=-2147483648\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=1\n[route]\nlayers=-2147483648\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=1\n[route]\nlayers=2147483647\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=1\n[route]\n"
        "layers=0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=1\n[route]\nlayers=,\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=1\n[route]\nlayers=0,,0\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=18\n[yolo]\nclasses=1\nnum=3\n"
        "mask=0,1,2\nanchors=,,,\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=6\n[yolo]\nclasses=1\nnum=1\n"
        "anchors=1,2,3,4,5,6,7,8\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=18\n[yolo]\nclasses=1\nnum=65536\n"
        "mask=0,1,2\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=18\n[yolo]\nclasses=1\nnum=3\n"
        "mask=-1,1,2\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=6\n[region]\nclasses=1\nnum=1\n"
        "coords=65536\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[softmax]\ngroups=-1\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[softmax]\ntemperature=0\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[softmax]\nspatial=1e30\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\n[dropout]\nprobability=-0\n",
        "[net]\nwidth=4\nheight=4\nchannels=1\npolicy=steps\nsteps=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
        "16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33\nscales=1\n[maxpool]\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "fixed case %zu", i);
        run_cfg(texts[i], strlen(texts[i]), 0, 1, label);
    }

    buf b = {0};
    /* Binary garbage and NUL bytes. */
    for (int i = 0; i < 200; i++) {
        size_t n = rnd_below(i < 100 ? 64 : 4096);
        buf_reserve(&b, n + 1);
        for (size_t k = 0; k < n; k++) b.p[k] = (char)rnd();
        b.n = n;
        if (i % 2) memcpy(b.p, "[net]\n", n < 6 ? n : 6);
        run_cfg(b.p, b.n, 0, 1, "binary garbage");
    }
    static const char nul_text[] = "[net]\nwidth=8\nheight=8\nchannels=3\n[maxpool]\0\nsize=2\n";
    run_cfg(nul_text, sizeof nul_text - 1, 0, 1, "NUL byte");
    run_cfg("\0", 1, 0, 1, "lone NUL");
    run_cfg("[net]\0", 6, 0, 1, "NUL after [net]");

    /* 100 KB lines: key, value, section name, no '=' at all, comment. */
    const size_t big = 100 * 1024;
    const char *head = "[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=2\n";
    for (int kind = 0; kind < 6; kind++) {
        buf_set(&b, head, strlen(head));
        if (kind == 2) buf_puts(&b, "[");
        if (kind == 4) buf_puts(&b, "#");
        size_t at = b.n;
        buf_reserve(&b, b.n + big + 64);
        memset(b.p + at, kind == 1 ? '7' : 'a', big);
        b.n += big;
        if (kind == 0) buf_puts(&b, "=1\n");
        if (kind == 1) {
            buf_insert(&b, at, "size=", 5);
            buf_puts(&b, "\n");
        }
        if (kind == 2) buf_puts(&b, "]\n");
        if (kind == 3) buf_puts(&b, "\n");
        if (kind == 5) {
            buf_insert(&b, at, "activation=", 11);
            buf_puts(&b, "\n");
        }
        run_cfg(b.p, b.n, 0, 1, "100 KB line");
    }
    /* No newline at all for 1 MB. */
    buf_reserve(&b, 1 << 20);
    memset(b.p, 'x', 1 << 20);
    b.n = 1 << 20;
    run_cfg(b.p, b.n, 0, 1, "1 MB without a newline");

    /* Many sections, many options, many warnings. */
    buf_set(&b, head, strlen(head));
    for (int i = 0; i < 3000; i++) buf_puts(&b, "[maxpool]\nsize=1\nstride=1\n");
    run_cfg(b.p, b.n, 0, 1, "3000 maxpools");
    buf_set(&b, head, strlen(head));
    for (int i = 0; i < 2000; i++) buf_puts(&b, i % 2 ? "[route]\nlayers=-1,-2\n" : "[route]\nlayers=-1\n");
    run_cfg(b.p, b.n, 0, 1, "2000 routes (channels double)");
    buf_set(&b, head, strlen(head));
    for (int i = 0; i < 5000; i++) {
        char opt[32];
        snprintf(opt, sizeof opt, "unused%d=%d\n", i, i);
        buf_puts(&b, opt);
    }
    run_cfg(b.p, b.n, 0, 1, "5000 unused options");
    buf_set(&b, head, strlen(head));
    for (int i = 0; i < 5000; i++) buf_puts(&b, "filters=3\n");
    run_cfg(b.p, b.n, 0, 1, "5000 repeated options");
    buf_set(&b, "", 0);
    for (int i = 0; i < 20000; i++) buf_puts(&b, "[");
    run_cfg(b.p, b.n, 0, 1, "20000 [");
    free(b.p);
}

/* ---- hostile option values ------------------------------------------- */

static const char *hostile_values[] = {
    "2147483647", "-2147483648", "2147483648", "0",   "-1",   "1000000", "99999999999999999999",
    "1e30",       "-1e-30",      "nan",        "inf", "-inf", "0x10",    "",
    "1,2,3",      "-0",          "65536",      "4096", "3.5",  "1e9999",  "+5",
    "-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1", "a,b", ",", "1048576",
};
static const char *hostile_keys[] = {
    "width", "height", "channels", "filters", "size",   "stride",  "pad",     "padding",
    "groups", "output", "classes", "num",     "mask",   "anchors", "layers",  "from",
    "batch", "batch_normalize", "activation", "coords", "scale", "probability", "steps", "inputs",
};
#define N_VALUES (sizeof hostile_values / sizeof hostile_values[0])
#define N_KEYS (sizeof hostile_keys / sizeof hostile_keys[0])

/* Position just after "\nKEY=" for the k-th occurrence (counting from 0,
 * wrapping), or (size_t)-1 when the key is absent. */
static size_t find_key(const buf *b, const char *key, size_t k)
{
    size_t kl = strlen(key), hits = 0, first = (size_t)-1;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i + kl + 1 < b->n; i++) {
            if ((i == 0 || b->p[i - 1] == '\n') && memcmp(b->p + i, key, kl) == 0 &&
                b->p[i + kl] == '=') {
                if (first == (size_t)-1) first = i + kl + 1;
                if (hits++ == k) return i + kl + 1;
            }
        }
        if (first == (size_t)-1) return first;
        k %= hits;
        hits = 0;
    }
    return first;
}

static void set_value(buf *b, size_t at, const char *value)
{
    size_t end = at;
    while (end < b->n && b->p[end] != '\n' && b->p[end] != '\r') end++;
    buf_erase(b, at, end - at);
    buf_insert(b, at, value, strlen(value));
}

static void hostile_cases(const base *bases, int n_bases)
{
    buf b = {0};
    for (int i = 0; i < n_bases; i++)
        for (size_t k = 0; k < N_KEYS; k++)
            for (size_t v = 0; v < N_VALUES; v++) {
                if (bases[i].heavy && (k + v) % 3) continue; /* a third of the pairs */
                buf_set(&b, bases[i].text, bases[i].len);
                size_t at = find_key(&b, hostile_keys[k], rnd_below(8));
                if (at == (size_t)-1) {
                    /* Add the option to a random section instead. */
                    char line[160];
                    snprintf(line, sizeof line, "%s=%s\n", hostile_keys[k], hostile_values[v]);
                    size_t s, e;
                    line_at(&b, rnd_below(b.n), &s, &e);
                    buf_insert(&b, e, line, strlen(line));
                } else {
                    set_value(&b, at, hostile_values[v]);
                }
                char label[160];
                snprintf(label, sizeof label, "%s: %s=%s", bases[i].name, hostile_keys[k],
                         hostile_values[v]);
                /* The [net] size keys only matter without an override. */
                int size = k < 2 ? 0 : bases[i].size;
                run_cfg(b.p, b.n, size, 1, label);
            }
    free(b.p);
}

/* ---- random mutations ------------------------------------------------ */

static const char *chunks[] = {
    "[route]\nlayers=-1\n", "[route]\nlayers=-1,-4\n", "[yolo]\n", "[yolo]\nclasses=1\nnum=3\n",
    "[shortcut]\nfrom=-3\n", "[upsample]\n", "[upsample]\nstride=3\n", "[reorg]\nstride=2\n",
    "[reorg]\nstride=2\nreverse=1\n", "[connected]\noutput=5\n", "[softmax]\ngroups=3\n",
    "[avgpool]\n", "[dropout]\n", "[batchnorm]\n", "[cost]\n", "[region]\n", "[maxpool]\nsize=3\nstride=2\n",
    "[maxpool]\nsize=2\nstride=1\n", "[convolutional]\nfilters=7\nsize=5\nstride=3\npad=1\n",
    "[convolutional]\nfilters=18\nsize=1\n", "[net]\n", "[gru]\n", "width=16\n", "filters=1\n",
    "layers=-2\n", "from=0\n", "\n\n", "#\n", "[",
};

static void mutate(buf *b, const base *other)
{
    int ops = 1 + (int)rnd_below(5);
    for (int op = 0; op < ops && b->n > 0; op++) {
        size_t pos = rnd_below(b->n), s, e;
        switch (rnd_below(10)) {
        case 0:
        case 1: { /* flip a byte */
            static const char pool[] = "0123456789-=[]#;,. \n\r\t";
            unsigned r = (unsigned)rnd_below(10);
            b->p[pos] = r < 6   ? pool[rnd_below(10)]
                        : r < 8 ? pool[rnd_below(sizeof pool - 1)]
                        : r < 9 ? (char)('a' + rnd_below(26))
                                : (char)rnd();
            break;
        }
        case 2: /* delete a line */
            line_at(b, pos, &s, &e);
            buf_erase(b, s, e - s);
            break;
        case 3: { /* duplicate a line */
            line_at(b, pos, &s, &e);
            char *copy = malloc(e - s + 1);
            memcpy(copy, b->p + s, e - s);
            buf_insert(b, e, copy, e - s);
            free(copy);
            break;
        }
        case 4: { /* move a line elsewhere */
            line_at(b, pos, &s, &e);
            char *copy = malloc(e - s + 1);
            size_t n = e - s;
            memcpy(copy, b->p + s, n);
            buf_erase(b, s, n);
            size_t s2, e2;
            line_at(b, rnd_below(b->n), &s2, &e2);
            buf_insert(b, b->n ? s2 : 0, copy, n);
            free(copy);
            break;
        }
        case 5: { /* insert a section or an option */
            const char *c = chunks[rnd_below(sizeof chunks / sizeof chunks[0])];
            line_at(b, pos, &s, &e);
            buf_insert(b, e, c, strlen(c));
            break;
        }
        case 6: { /* a hostile value for some option */
            char *eq = memchr(b->p + pos, '=', b->n - pos);
            if (eq) set_value(b, (size_t)(eq - b->p) + 1, hostile_values[rnd_below(N_VALUES)]);
            break;
        }
        case 7: /* truncate */
            if (rnd_below(4) == 0) b->n = pos;
            break;
        case 8: { /* splice in a line of another text */
            buf o = {other->text, other->len, other->len};
            line_at(&o, rnd_below(o.n), &s, &e);
            size_t s2, e2;
            line_at(b, pos, &s2, &e2);
            buf_insert(b, e2, other->text + s, e - s);
            break;
        }
        default: { /* change a digit by one step, keeping the text plausible */
            char *d = NULL;
            for (size_t i = pos; i < b->n && !d; i++)
                if (b->p[i] >= '0' && b->p[i] <= '9') d = b->p + i;
            if (d) *d = (char)('0' + (*d - '0' + (rnd_below(2) ? 1 : 9)) % 10);
            break;
        }
        }
    }
}

static void mutation_cases(const base *bases, int n_bases, int count)
{
    buf b = {0};
    for (int c = 0; c < count; c++) {
        const base *bs = &bases[rnd_below((size_t)n_bases)];
        if (bs->heavy && rnd_below(3)) bs = &bases[rnd_below((size_t)n_bases)];
        buf_set(&b, bs->text, bs->len);
        mutate(&b, &bases[rnd_below((size_t)n_bases)]);
        /* Mostly at a small size so the net can run; sometimes as written. */
        int size = rnd_below(4) == 0 ? 0 : bs->size;
        int batch = rnd_below(8) == 0 ? 2 : 1;
        char label[64];
        snprintf(label, sizeof label, "mutation %d of %s", c, bs->name);
        run_cfg(b.p, b.n, size, batch, label);
    }
    free(b.p);
}

/* ---- weights --------------------------------------------------------- */

static const char *wnet_cfg =
    "[net]\nwidth=16\nheight=16\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[batchnorm]\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nfilters=18\nsize=1\nstride=1\nactivation=linear\n"
    "[yolo]\nmask=0,1,2\nanchors=2,3,4,5,6,7\nclasses=1\nnum=3\n"
    "[route]\nlayers=-2\n"
    "[connected]\noutput=5\nbatch_normalize=1\nactivation=leaky\n"
    "[softmax]\n";

typedef struct wstats {
    int loads, ok, errors, forwards;
} wstats;

static void try_weights(ecn_net *net, const char *path, const void *data, size_t n, wstats *ws,
                        const char *label)
{
    if (test_write_file(path, data, n)) {
        CHECK(0, "cannot write %s", path);
        return;
    }
    ecn_err err;
    memset(err.msg, 0, sizeof err.msg);
    ws->loads++;
    int rc = ecn_net_load_weights(net, path, &err);
    if (rc) {
        ws->errors++;
        CHECK(rc == -1 && err.msg[0], "%s: rc %d with message '%s'", label, rc, err.msg);
        return;
    }
    ws->ok++;
    /* Whatever the values (NaN, Inf, 1e38), a forward pass and decoding run. */
    float x[16 * 16 * 3];
    for (int i = 0; i < 16 * 16 * 3; i++) x[i] = (float)(i % 7) / 7;
    const float *y = ecn_net_forward(net, x, NULL, NULL);
    CHECK(y != NULL, "%s: forward returned NULL", label);
    ecn_detect_opts d = {.thresh = .25f, .nms = .45f, .image_w = 100,
                         .image_h = 50, .letterboxed = 1};
    ecn_detection *dets = NULL;
    int count = 0;
    if (ecn_net_detections(net, &d, &dets, &count, &err) == 0) ecn_detections_free(dets, count);
    ws->forwards++;
}

static void weights_cases(const char *dir)
{
    ecn_load_opts lo = {.batch = 1, .threads = 1};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg_text(wnet_cfg, strlen(wnet_cfg), "w.cfg", &lo, &net, &err)) {
        CHECK(0, "w.cfg: %s", err.msg);
        return;
    }
    char path[512], good_path[512];
    snprintf(path, sizeof path, "%s/fuzz.weights", dir);
    snprintf(good_path, sizeof good_path, "%s/good.weights", dir);
    ecn_net_randomize(net, 1);
    CHECK(ecn_net_save_weights(net, good_path, &err) == 0, "save: %s", err.msg);
    size_t size = 0;
    unsigned char *good = test_read_file(good_path, &size);
    if (!good) {
        ecn_net_free(net);
        return;
    }
    size_t floats = (size - 20) / 4;
    unsigned char *b = malloc(size + 4096);
    wstats ws = {0};

    /* Every truncation. */
    int cuts = 0;
    for (size_t cut = 0; cut < size; cut += cut < 64 ? 1 : 29 + rnd_below(20), cuts++)
        try_weights(net, path, good, cut, &ws, "truncated");
    for (size_t cut = size - 9; cut < size; cut++, cuts++) try_weights(net, path, good, cut, &ws, "truncated");
    int trunc_errors = ws.errors;
    CHECK(trunc_errors == cuts, "every truncated file is an error: %d of %d", trunc_errors, cuts);
    /* Oversized. */
    for (int extra = 1; extra <= 64; extra++) {
        memcpy(b, good, size);
        for (int k = 0; k < extra; k++) b[size + k] = (unsigned char)rnd();
        try_weights(net, path, b, size + (size_t)extra, &ws, "oversized");
    }
    CHECK(ws.errors == trunc_errors + 64, "every oversized file is an error");
    /* Random bytes. */
    for (int i = 0; i < 300; i++) {
        size_t n = rnd_below(i < 150 ? 64 : size + 200);
        for (size_t k = 0; k < n; k++) b[k] = (unsigned char)rnd();
        try_weights(net, path, b, n, &ws, "random bytes");
    }
    /* Hostile headers on the right payload. */
    static const int32_t versions[][2] = {
        {0, 2},        {0, 1},          {0, 0},           {1, 0},           {-1, 0},
        {0, -1},       {1000, 0},       {0, 1000},        {1001, 0},        {0, 1001},
        {2147483647, 0}, {0, 2147483647}, {-2147483647 - 1, 0}, {0, -2147483647 - 1},
        {214748364, 8}, {2147483647, 2147483647}, {-2147483647 - 1, -2147483647 - 1},
    };
    for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++)
        for (int seen_bytes = 4; seen_bytes <= 8; seen_bytes += 4) {
            int32_t h[3] = {versions[v][0], versions[v][1], 0};
            memcpy(b, h, 12);
            memset(b + 12, 0xff, (size_t)seen_bytes);
            memcpy(b + 12 + seen_bytes, good + 20, size - 20);
            try_weights(net, path, b, 12 + (size_t)seen_bytes + size - 20, &ws, "hostile header");
        }
    int ok_before = ws.ok;
    /* NaN, Inf, huge and denormal values; negative and zero variances. */
    const float specials[] = {NAN, -NAN, INFINITY, -INFINITY, 3.4e38f, -3.4e38f, 1e-45f, 0.f, -0.f, -1.f};
    for (int i = 0; i < 200; i++) {
        memcpy(b, good, size);
        float *p = (float *)(void *)(b + 20);
        if (i < 10) {
            for (size_t k = 0; k < floats; k++) p[k] = specials[i];
        } else {
            int hits = 1 + (int)rnd_below(20);
            for (int k = 0; k < hits; k++) p[rnd_below(floats)] = specials[rnd_below(10)];
        }
        try_weights(net, path, b, size, &ws, "special values");
    }
    CHECK(ws.ok - ok_before == 200, "files with special values load: %d of 200", ws.ok - ok_before);
    printf("weights: %d loads, %d loaded and ran, %d refused\n", ws.loads, ws.ok, ws.errors);
    free(b);
    free(good);
    ecn_net_free(net);
}

int main(int argc, char **argv)
{
    if (argc > 1) rng_state = strtoull(argv[1], NULL, 0);
    if (!rng_state) rng_state = 1; /* xorshift never leaves 0 */
    double t0 = now();
    base bases[16];
    int n_bases = load_bases(bases);
    /* Start the library (thread pool, gemm) before capping the address space. */
    run_cfg(builtin[0], strlen(builtin[0]), 0, 1, "warm-up");
    cap_memory();
    fixed_cases();
    double t1 = now();
    hostile_cases(bases, n_bases);
    double t2 = now();
    mutation_cases(bases, n_bases, 2500);
    double t3 = now();
    char *dir = test_tmpdir();
    if (dir) {
        weights_cases(dir);
        test_rmdir(dir);
        free(dir);
    } else {
        CHECK(0, "cannot create a temporary directory");
    }
    double t4 = now();
    printf("cfg: %d cases, %d built (%d ran forward, %d decoded boxes, %d too big to run), %d refused, "
           "%d broke the contract\n",
           st.cases, st.built, st.forwarded, st.detections, st.too_big, st.failed, st.bad);
    printf("time: fixed %.1fs, hostile values %.1fs, mutations %.1fs, weights %.1fs\n", t1 - t0,
           t2 - t1, t3 - t2, t4 - t3);
    CHECK(st.built > 500 && st.failed > 500, "the fuzzer should both build and refuse often");
    CHECK(st.forwarded > 200, "the fuzzer should run many small nets: %d", st.forwarded);
    for (int i = 0; i < n_bases; i++) free(bases[i].text);
    return test_finish("test_fuzz");
}
