/* testlib.h - a very small test harness.
 *
 * CHECK records one assertion; test_finish prints "NAME: N passed, N failed"
 * (tests/run.sh adds them up) and returns the exit status.  SKIP notes a test
 * that cannot run here (a missing package, no GPU) without failing it.
 */
#ifndef ECN_TESTLIB_H
#define ECN_TESTLIB_H

#include <stddef.h>

void test_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int test_finish(const char *name);
int test_failures(void);

#define CHECK(cond, ...) test_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Largest |a-b| over n floats divided by the largest |b|. */
double test_rel_diff(const float *a, const float *b, size_t n);
/* |a - b| / |b| over whole vectors (L2 norms; |a - b| when b is 0): how
 * analytic gradients are compared with finite differences. */
double test_rel_norm(const double *a, const double *b, size_t n);
/* Read a whole file; returns NULL when it cannot. */
unsigned char *test_read_file(const char *path, size_t *size);
int test_write_file(const char *path, const void *data, size_t size);
/* A fresh temporary directory (removed by the caller with test_rmdir). */
char *test_tmpdir(void);
void test_rmdir(const char *dir);
/* Run a shell command, return its exit status (-1 if it could not run). */
int test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Path of the ecnet binary under test ($ECNET, default build/ecnet). */
const char *test_ecnet(void);
const char *test_build_dir(void);

#endif
