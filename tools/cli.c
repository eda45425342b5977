/* cli.c - see cli.h. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void print_help(const cli_spec *spec)
{
    printf("usage: %s\n\n%s\n", spec->usage, spec->summary);
    if (spec->n_opts) printf("\noptions:\n");
    for (int i = 0; i < spec->n_opts; i++) {
        const cli_opt *o = &spec->opts[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        printf("  %-24s %s\n", left, o->help);
    }
    printf("  %-24s %s\n", "--help", "show this help and exit");
}

static int usage_error(const cli_spec *spec, const char *fmt, const char *arg)
{
    fprintf(stderr, "ecnet: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: %s\n(see --help)\n", spec->usage);
    return EXIT_USAGE;
}

static int set_value(const cli_spec *spec, const cli_opt *o, const char *v)
{
    char *end;
    errno = 0;
    if (o->kind == OPT_INT) {
        long x = strtol(v, &end, 10);
        if (end == v || *end || errno || x < INT_MIN || x > INT_MAX)
            return usage_error(spec, "expected an integer after %s", o->name);
        *(int *)o->dst = (int)x;
    } else if (o->kind == OPT_FLOAT || o->kind == OPT_DOUBLE) {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x))
            return usage_error(spec, "expected a number after %s", o->name);
        if (o->kind == OPT_DOUBLE) *(double *)o->dst = x;
        else *(float *)o->dst = (float)x;
    } else {
        *(const char **)o->dst = v;
    }
    return -1;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, const char **pos, int *n_pos)
{
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(spec);
            return EXIT_OK;
        }
        if (a[0] == '-' && a[1] == '-') {
            const cli_opt *o = NULL;
            for (int k = 0; k < spec->n_opts; k++)
                if (strcmp(spec->opts[k].name, a) == 0) o = &spec->opts[k];
            if (!o) return usage_error(spec, "unknown option %s", a);
            if (o->kind == OPT_FLAG) {
                *(int *)o->dst = 1;
                continue;
            }
            if (i + 1 >= argc) return usage_error(spec, "%s needs a value", a);
            int rc = set_value(spec, o, argv[++i]);
            if (rc >= 0) return rc;
            continue;
        }
        if (*n_pos >= spec->max_pos) return usage_error(spec, "unexpected argument '%s'", a);
        pos[(*n_pos)++] = a;
    }
    if (*n_pos < spec->min_pos) return usage_error(spec, "%s", "missing arguments");
    return -1;
}

int cli_fail(const ecn_err *err)
{
    fprintf(stderr, "ecnet: %s\n", err->msg);
    return EXIT_FAIL;
}

void cli_print_warnings(const ecn_net *net)
{
    for (int i = 0; i < ecn_net_warning_count(net); i++)
        fprintf(stderr, "warning: %s\n", ecn_net_warning(net, i));
}

int cli_load_net(const char *cfg, const char *weights, const ecn_load_opts *lo, ecn_net **net)
{
    ecn_err err;
    if (ecn_net_from_cfg(cfg, lo, net, &err)) return cli_fail(&err);
    cli_print_warnings(*net);
    if (weights && strncmp(weights, "random:", 7) == 0) { /* a load test's model: no trained weights needed */
        char *end;
        unsigned long long seed = strtoull(weights + 7, &end, 10);
        if (end == weights + 7 || *end) {
            fprintf(stderr, "ecnet: '%s': expected random:SEED, e.g. random:1\n", weights);
            ecn_net_free(*net);
            *net = NULL;
            return EXIT_USAGE;
        }
        ecn_net_randomize(*net, seed);
    } else if (weights) {
        if (ecn_net_load_weights(*net, weights, &err)) {
            ecn_net_free(*net);
            *net = NULL;
            return cli_fail(&err);
        }
        ecn_net_fold_batchnorm(*net);
    }
    return EXIT_OK;
}

int cli_check_gpu(int device)
{
    if (device < -1) {
        fprintf(stderr, "ecnet: --gpu expects a device number (0, 1, ...), got %d\n", device);
        return EXIT_USAGE;
    }
    if (device >= 0 && !ecn_gpu_built()) {
        fprintf(stderr, "ecnet: this build has no GPU support (make GPU=1)\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cli_use_gpu(ecn_net *net, int device)
{
    ecn_err err;
    if (device < 0) return EXIT_OK;
    if (ecn_net_to_gpu(net, device, &err)) return cli_fail(&err);
    return EXIT_OK;
}

int cli_gpu_failed(const ecn_net *net)
{
    const char *why = ecn_net_gpu_error(net);
    fprintf(stderr, "ecnet: %s\n", why ? why : "the forward pass failed");
    return EXIT_FAIL;
}

void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress(int quiet, const char *label, long done, long total, double elapsed_s)
{
    if (quiet || !isatty(STDERR_FILENO)) return;
    int width = 30, filled = total > 0 ? (int)(width * done / total) : 0;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    double eta = done > 0 ? elapsed_s * (double)(total - done) / (double)done : 0;
    fprintf(stderr, "\r%s [%s] %ld/%ld  %.1fs  eta %.1fs ", label, bar, done, total, elapsed_s, eta);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

float *cli_read_f32(const char *path, size_t *count, ecn_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n % 4) {
        fclose(f);
        snprintf(err->msg, sizeof err->msg, "%s: size %ld is not a whole number of float32", path, n);
        return NULL;
    }
    float *buf = malloc(n ? (size_t)n : 4);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        snprintf(err->msg, sizeof err->msg, "%s: read failed", path);
        return NULL;
    }
    fclose(f);
    *count = (size_t)n / 4;
    return buf;
}

int cli_write_f32(const char *path, const float *data, size_t count, ecn_err *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(data, sizeof(float), count, f);
    if (fclose(f) != 0 || w != count) {
        snprintf(err->msg, sizeof err->msg, "%s: write failed", path);
        return -1;
    }
    return 0;
}
