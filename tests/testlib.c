/* testlib.c - see testlib.h. */
#include "testlib.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int passed, failed, skipped; /* counters of this test program: one per process */

void test_check(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void test_skip(const char *fmt, ...)
{
    skipped++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "SKIP: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int test_failures(void) { return failed; }

int test_finish(const char *name)
{
    printf("%s: %d passed, %d failed, %d skipped\n", name, passed, failed, skipped);
    return failed ? 1 : 0;
}

double test_rel_diff(const float *a, const float *b, size_t n)
{
    double maxdiff = 0, maxmag = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN wins */
        if (fabs(b[i]) > maxmag) maxmag = fabs(b[i]);
    }
    return maxmag > 0 ? maxdiff / maxmag : maxdiff;
}

double test_rel_norm(const double *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

unsigned char *test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((n > 0 ? (size_t)n : 0) + 1); /* NUL-terminated for text */
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n > 0 ? n : 0] = 0;
    if (buf && size) *size = (size_t)n;
    return buf;
}

int test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && w == size) ? 0 : -1;
}

char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/ecnet-test-XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void test_rmdir(const char *dir)
{
    if (dir && strncmp(dir, "/tmp/", 5) == 0) test_system("rm -rf '%s'", dir);
}

int test_system(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

const char *test_ecnet(void)
{
    const char *e = getenv("ECNET");
    return e ? e : "build/ecnet";
}

const char *test_build_dir(void)
{
    const char *b = getenv("BUILD");
    return b ? b : "build";
}
