/* yolo.cu - the activations of the detector heads, in place.
 *
 * Layout (Darknet's): per image, anchor after anchor, one w*h plane per
 * entry; entry e of anchor n at cell loc of image b lies at
 * b*outputs + n*wh*entries + e*wh + loc.
 *
 * [yolo], entries = 4 + 1 + classes (src/layers/yolo.c):
 *   s(t) = 1 / (1 + e^-t) on every entry but 2 and 3 (tw, th stay raw).
 *
 * [region], entries = coords + 1 + classes (src/layers/region.c):
 *   s on entries 0 and 1 (x, y); on entry `coords` (objectness) unless
 *   background=1; on the classes unless softmax=1, where instead each cell
 *   gets one softmax over its classes (and over the objectness plane too
 *   when background=1), values w*h apart: ecn_gpu_softmax with runs
 *   {classes + background, wh, batch * anchors, wh * entries, wh}.
 *
 * The logistic is ecn_dev_activate's, the CPU's formula.
 */
#include "common.cuh"

__global__ void yolo_kernel(float *x, int wh, int entries, size_t total)
{
    ECN_FOR_EACH(i, total)
    {
        int e = (int)(i / wh % entries);
        if (e != 2 && e != 3) x[i] = ecn_dev_activate(x[i], ECN_LOGISTIC);
    }
}

__global__ void region_kernel(float *x, int wh, int coords, int classes, int background, int softmax, size_t total)
{
    int entries = coords + 1 + classes;
    ECN_FOR_EACH(i, total)
    {
        int e = (int)(i / wh % entries);
        int squash = e < 2 || (e == coords && !background) || (e > coords && !softmax);
        if (squash) x[i] = ecn_dev_activate(x[i], ECN_LOGISTIC);
    }
}

int ecn_gpu_yolo_activate(float *x, int batch, int anchors, int wh, int classes, ecn_err *err)
{
    size_t total = (size_t)batch * anchors * wh * (5 + classes);
    if (!total) return 0;
    yolo_kernel<<<ecn_blocks(total), ECN_THREADS>>>(x, wh, 5 + classes, total);
    return ecn_gpu_check("yolo kernel", err);
}

int ecn_gpu_region_activate(float *x, int batch, int anchors, int wh, int coords, int classes, int background,
                            int softmax, ecn_err *err)
{
    int entries = coords + 1 + classes;
    size_t total = (size_t)batch * anchors * wh * entries;
    if (!total) return 0;
    region_kernel<<<ecn_blocks(total), ECN_THREADS>>>(x, wh, coords, classes, background, softmax, total);
    if (ecn_gpu_check("region kernel", err)) return -1;
    if (!softmax) return 0;
    ecn_gpu_runs runs = {classes + background, wh, batch * anchors, (size_t)wh * entries, wh};
    float *first = x + (size_t)(coords + !background) * wh;
    return ecn_gpu_softmax(first, first, runs, 1, err);
}
