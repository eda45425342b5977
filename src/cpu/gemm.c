/* gemm.c - the one place that calls BLAS. */
#include "gemm.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* Declared by OpenBLAS's cblas.h, but not by every cblas.h an alternatives
 * system may point at. */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

void ecn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void set_single_thread(void) { openblas_set_num_threads(1); }

void ecn_gemm_init(void)
{
    /* Process-wide OpenBLAS setting, done exactly once. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, set_single_thread);
}

const char *ecn_gemm_corename(void) { return openblas_get_corename(); }

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double ecn_gemm_probe_gflops(int n, int threads)
{
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < nn; i++) a[i] = b[i] = (float)(i % 7) * 0.1f, c[i] = 0;
        openblas_set_num_threads(threads);
        for (int rep = 0; rep < 5; rep++) {
            double t = seconds();
            ecn_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
            double g = 2.0 * n * n * (double)n / (seconds() - t) / 1e9;
            if (g > best) best = g;
        }
        openblas_set_num_threads(1);
    }
    free(a);
    free(b);
    free(c);
    return best;
}
