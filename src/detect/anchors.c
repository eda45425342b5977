/* anchors.c - k-means on box shapes with the 1 - IoU distance.
 *
 *   seed:    centre 0 = a random box; each next centre = a box drawn with
 *            probability proportional to d(box)^2, d = 1 - IoU with its
 *            nearest centre so far (k-means++; uniform when all d are 0).
 *   repeat:  assign every box to the centre of highest IoU (the first on a
 *            tie); move each centre to the mean w and mean h of its boxes;
 *            a centre with no box jumps to the box that fits its own centre
 *            worst; stop when no assignment changes.
 *   keep:    of `restarts` runs, the centres with the highest mean IoU.
 *
 * Boxes and centres are aligned at a corner, so IoU = min(w1,w2) min(h1,h2)
 * / (w1 h1 + w2 h2 - min(w1,w2) min(h1,h2)).
 */
#include "anchors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"

#define MAX_ITERATIONS 1000

float ecn_anchor_iou(float w1, float h1, float w2, float h2)
{
    float inter = (w1 < w2 ? w1 : w2) * (h1 < h2 ? h1 : h2);
    float uni = w1 * h1 + w2 * h2 - inter;
    return uni > 0 ? inter / uni : 0;
}

/* Index of the centre that fits box i best, and that IoU. */
static int nearest(const float *wh, int i, const float *centres, int k, float *best_iou)
{
    int best = 0;
    *best_iou = -1;
    for (int c = 0; c < k; c++) {
        float iou = ecn_anchor_iou(wh[2 * i], wh[2 * i + 1], centres[2 * c], centres[2 * c + 1]);
        if (iou > *best_iou) {
            *best_iou = iou;
            best = c;
        }
    }
    return best;
}

double ecn_anchors_mean_iou(const float *wh, int n, const float *anchors, int k)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        float iou;
        nearest(wh, i, anchors, k, &iou);
        sum += iou;
    }
    return n ? sum / n : 0;
}

/* k-means++ seeding; d2 is scratch of n doubles. */
static void seed_centres(const float *wh, int n, int k, unsigned long long *rng, float *centres, double *d2)
{
    int first = (int)(ecn_rng_next(rng) % (unsigned long long)n);
    centres[0] = wh[2 * first];
    centres[1] = wh[2 * first + 1];
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (int i = 0; i < n; i++) {
            float iou;
            nearest(wh, i, centres, c, &iou);
            d2[i] = (1.0 - iou) * (1.0 - iou);
            total += d2[i];
        }
        int pick = (int)(ecn_rng_next(rng) % (unsigned long long)n);
        if (total > 0) {
            double r = ecn_rng_uniform(rng) * total;
            for (pick = 0; pick < n - 1 && r >= d2[pick]; pick++) r -= d2[pick];
        }
        centres[2 * c] = wh[2 * pick];
        centres[2 * c + 1] = wh[2 * pick + 1];
    }
}

/* Move each centre to its boxes' mean; an empty one to the worst-fitting box. */
static void update_centres(const float *wh, int n, int k, const int *assign, float *centres, double *sums)
{
    memset(sums, 0, 3 * (size_t)k * sizeof *sums);
    for (int i = 0; i < n; i++) {
        sums[3 * assign[i]] += wh[2 * i];
        sums[3 * assign[i] + 1] += wh[2 * i + 1];
        sums[3 * assign[i] + 2] += 1;
    }
    for (int c = 0; c < k; c++) {
        if (sums[3 * c + 2] > 0) {
            centres[2 * c] = (float)(sums[3 * c] / sums[3 * c + 2]);
            centres[2 * c + 1] = (float)(sums[3 * c + 1] / sums[3 * c + 2]);
            continue;
        }
        int worst = 0;
        float worst_iou = 2;
        for (int i = 0; i < n; i++) {
            float iou = ecn_anchor_iou(wh[2 * i], wh[2 * i + 1], centres[2 * assign[i]], centres[2 * assign[i] + 1]);
            if (iou < worst_iou) {
                worst_iou = iou;
                worst = i;
            }
        }
        centres[2 * c] = wh[2 * worst];
        centres[2 * c + 1] = wh[2 * worst + 1];
    }
}

/* One k-means run from k-means++ seeds; returns the mean IoU. */
static double run_once(const float *wh, int n, int k, unsigned long long *rng, float *centres, int *assign,
                       double *scratch)
{
    seed_centres(wh, n, k, rng, centres, scratch);
    for (int i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < MAX_ITERATIONS; it++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float iou;
            int c = nearest(wh, i, centres, k, &iou);
            changed += c != assign[i];
            assign[i] = c;
        }
        if (!changed) break;
        update_centres(wh, n, k, assign, centres, scratch);
    }
    return ecn_anchors_mean_iou(wh, n, centres, k);
}

static void sort_by_area(float *a, int k)
{
    for (int i = 1; i < k; i++) /* insertion sort: k is small */
        for (int j = i; j > 0 && a[2 * j] * a[2 * j + 1] < a[2 * j - 2] * a[2 * j - 1]; j--) {
            float w = a[2 * j], h = a[2 * j + 1];
            a[2 * j] = a[2 * j - 2], a[2 * j + 1] = a[2 * j - 1];
            a[2 * j - 2] = w, a[2 * j - 1] = h;
        }
}

int ecn_anchors_kmeans(const float *wh, int n, int k, unsigned long long seed, int restarts, float *anchors,
                       double *mean_iou, ecn_err *err)
{
    if (k < 1) return ecn_fail(err, "anchors: %d clusters: expected 1 or more", k);
    if (n < k) return ecn_fail(err, "anchors: %d boxes for %d anchors: expected at least as many boxes", n, k);
    for (int i = 0; i < n; i++)
        if (!(wh[2 * i] > 0 && wh[2 * i + 1] > 0 && isfinite(wh[2 * i]) && isfinite(wh[2 * i + 1])))
            return ecn_fail(err, "anchors: box %d is %g x %g: expected positive sizes", i, wh[2 * i], wh[2 * i + 1]);
    float *centres = ecn_calloc(2 * (size_t)k, sizeof *centres, err);
    int *assign = centres ? ecn_calloc((size_t)n, sizeof *assign, err) : NULL;
    size_t scratch_n = (size_t)(n > 3 * k ? n : 3 * k);
    double *scratch = assign ? ecn_calloc(scratch_n, sizeof *scratch, err) : NULL;
    if (!scratch) {
        free(centres);
        free(assign);
        return -1;
    }
    unsigned long long rng = seed;
    *mean_iou = -1;
    for (int r = 0; r < (restarts > 0 ? restarts : 1); r++) {
        double m = run_once(wh, n, k, &rng, centres, assign, scratch);
        if (m > *mean_iou) {
            *mean_iou = m;
            memcpy(anchors, centres, 2 * (size_t)k * sizeof *anchors);
        }
    }
    sort_by_area(anchors, k);
    free(centres);
    free(assign);
    free(scratch);
    return 0;
}
