/* gemm.h - C = alpha * op(A) * op(B) + beta * C, row-major, via OpenBLAS.
 *
 * op(A) is M x K, op(B) is K x N, C is M x N.  ta / tb select transposes.
 * OpenBLAS runs single-threaded: parallelism comes from the network's pool
 * (see src/core/pool.h), which splits a gemm into independent blocks.
 */
#ifndef ECN_GEMM_H
#define ECN_GEMM_H

void ecn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* Tell OpenBLAS to use one thread (idempotent, thread-safe). */
void ecn_gemm_init(void);
/* Name of the OpenBLAS kernel in use ("Haswell", "SkylakeX", ...). */
const char *ecn_gemm_corename(void);

/* Peak sgemm speed of this machine: GFLOPS of an n x n x n product with
 * OpenBLAS's own threads (`threads` of them), best of a few runs.  Leaves
 * OpenBLAS single-threaded again afterwards. */
double ecn_gemm_probe_gflops(int n, int threads);

#endif
