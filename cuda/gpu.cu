/* gpu.cu - devices, device memory, and CUDA errors as the engine's ecn_err.
 *
 * Every CUDA call is checked; a failure becomes "what: CUDA's message
 * (error name)" in the caller's ecn_err, and the function returns -1.
 */
#include <stdarg.h>
#include <stdio.h>

#include <cuda_runtime.h>

#include "gpu.h"

static int fail(ecn_err *err, cudaError_t e, const char *fmt, ...)
{
    if (!err) return -1;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err->msg, sizeof err->msg, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return -1;
}

int ecn_gpu_check(const char *what, ecn_err *err)
{
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : fail(err, e, "%s", what);
}

int ecn_gpu_devices(ecn_err *err)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear it: asking is not a fault of later work */
        return fail(err, e, "no usable CUDA device (cudaGetDeviceCount)");
    }
    if (n <= 0) {
        if (err) snprintf(err->msg, sizeof err->msg, "no CUDA device found");
        return -1;
    }
    return n;
}

int ecn_gpu_use(int device, ecn_err *err)
{
    int n = ecn_gpu_devices(err);
    if (n < 0) return -1;
    if (device < 0 || device >= n) {
        if (err) snprintf(err->msg, sizeof err->msg, "no CUDA device %d: this machine has %d (0 to %d)", device, n, n - 1);
        return -1;
    }
    cudaError_t e = cudaSetDevice(device);
    return e == cudaSuccess ? 0 : fail(err, e, "cudaSetDevice(%d)", device);
}

int ecn_gpu_describe(int device, char *buf, size_t n, ecn_err *err)
{
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) return fail(err, e, "cudaGetDeviceProperties(%d)", device);
    snprintf(buf, n, "%s (sm_%d%d, %.0f GiB)", p.name, p.major, p.minor, (double)p.totalGlobalMem / (1u << 30));
    return 0;
}

void *ecn_gpu_alloc(size_t bytes, ecn_err *err)
{
    void *d = NULL;
    cudaError_t e = cudaMalloc(&d, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        fail(err, e, "cudaMalloc of %.1f MB", (double)bytes / (1 << 20));
        return NULL;
    }
    return d;
}

void ecn_gpu_free(void *d)
{
    /* Nothing to report to: a failing cudaFree only means the context is
     * already gone (process exit, or a fault that the last copy reported). */
    if (d && cudaFree(d) != cudaSuccess) cudaGetLastError();
}

int ecn_gpu_upload(void *d_dst, const void *src, size_t bytes, ecn_err *err)
{
    if (!bytes) return 0;
    cudaError_t e = cudaMemcpy(d_dst, src, bytes, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? 0 : fail(err, e, "copy of %zu bytes to the GPU", bytes);
}

int ecn_gpu_download(void *dst, const void *d_src, size_t bytes, ecn_err *err)
{
    if (!bytes) return 0;
    cudaError_t e = cudaMemcpy(dst, d_src, bytes, cudaMemcpyDeviceToHost);
    return e == cudaSuccess ? 0 : fail(err, e, "copy of %zu bytes from the GPU", bytes);
}

int ecn_gpu_copy(void *d_dst, const void *d_src, size_t bytes, ecn_err *err)
{
    if (!bytes || d_dst == d_src) return 0;
    cudaError_t e = cudaMemcpyAsync(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice, 0);
    return e == cudaSuccess ? 0 : fail(err, e, "copy of %zu bytes on the GPU", bytes);
}

int ecn_gpu_sync(ecn_err *err)
{
    cudaError_t e = cudaDeviceSynchronize();
    return e == cudaSuccess ? 0 : fail(err, e, "GPU work");
}
