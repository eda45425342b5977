/* rate.c - see rate.h. */
#include "rate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/layer.h" /* ecn_rng_* */

static double uniform(unsigned long long *rng) { return ((ecn_rng_next(rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static int poisson(double lambda, unsigned long long *rng)
{
    if (lambda <= 0) return 0;
    if (lambda > 60) { /* normal approximation, rounded, never negative */
        double z = sqrt(-2 * log(uniform(rng))) * cos(6.283185307179586 * uniform(rng));
        long k = lround(lambda + sqrt(lambda) * z);
        return k < 0 ? 0 : (int)k;
    }
    double limit = exp(-lambda), p = 1;
    int k = -1;
    do {
        k++;
        p *= uniform(rng);
    } while (p > limit);
    return k;
}

/* Gamma(shape, 1) by Marsaglia and Tsang (shape >= 1; boosted below 1). */
static double gamma_draw(double shape, unsigned long long *rng)
{
    if (shape < 1) return gamma_draw(shape + 1, rng) * pow(uniform(rng), 1 / shape);
    double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double z = sqrt(-2 * log(uniform(rng))) * cos(6.283185307179586 * uniform(rng));
        double v = 1 + c * z;
        if (v <= 0) continue;
        v = v * v * v;
        if (log(uniform(rng)) < 0.5 * z * z + d - d * v + d * log(v)) return d * v;
    }
}

int ecn_rate_objects(double mean, double var, unsigned long long *rng)
{
    if (mean <= 0) return 0;
    if (var > mean * (1 + 1e-9)) { /* negative binomial: Poisson with a gamma-distributed mean */
        double shape = mean * mean / (var - mean);
        return poisson(gamma_draw(shape, rng) * mean / shape, rng);
    }
    if (var < mean * (1 - 1e-9)) { /* binomial with n trials of probability q: mean nq, variance nq(1-q) */
        double q = 1 - var / mean;
        int n = (int)lround(mean / q), k = 0;
        for (int i = 0; i < n; i++) k += uniform(rng) < mean / n;
        return k;
    }
    return poisson(mean, rng);
}

static double frame_bytes(const ecn_rate_model *m, unsigned long long *rng)
{
    if (!m->cell_model) return uniform(rng) < m->offload_rate ? m->frame_bytes : 0;
    int k = ecn_rate_objects(m->objects_mean, m->objects_var, rng);
    double cells = k * m->cells_per_object, all = (double)m->grid * m->grid;
    if (cells > all) cells = all;
    double sent = 0;
    for (int i = 0; i < (int)lround(cells); i++) sent += uniform(rng) < m->cell_ratio;
    return sent > 0 ? m->header_bytes + sent * m->cell_bytes : 0;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int check(const ecn_rate_model *m, int seconds, ecn_err *err)
{
    const char *bad = m->cameras < 1 ? "cameras must be at least 1"
                      : !(m->fps > 0 && m->fps <= 1000) ? "fps must be in (0, 1000]"
                      : seconds < 10 ? "simulate at least 10 seconds"
                      : NULL;
    if (!bad && !m->cell_model && !(m->offload_rate >= 0 && m->offload_rate <= 1 && m->frame_bytes >= 0))
        bad = "offload rate must be in [0, 1] and bytes per frame >= 0";
    if (!bad && m->cell_model &&
        !(m->grid >= 1 && m->objects_mean >= 0 && m->objects_var >= 0 && m->cells_per_object >= 0 &&
          m->cell_ratio >= 0 && m->cell_ratio <= 1 && m->cell_bytes >= 0 && m->header_bytes >= 0))
        bad = "cell model: grid >= 1, objects mean and variance >= 0, ratio in [0, 1], sizes >= 0";
    return bad ? ecn_fail(err, "%s", bad) : 0;
}

int ecn_rate_simulate(const ecn_rate_model *m, int seconds, unsigned long long seed, ecn_rate_result *r,
                      ecn_err *err)
{
    if (check(m, seconds, err)) return -1;
    double *bps = malloc((size_t)seconds * sizeof *bps);
    if (!bps) return ecn_fail(err, "out of memory");
    unsigned long long rng = seed;
    long frames = lround(m->fps); /* frames per camera per simulated second */
    double sum = 0;
    for (int s = 0; s < seconds; s++) {
        double bytes = 0;
        for (int c = 0; c < m->cameras; c++)
            for (long f = 0; f < frames; f++) bytes += frame_bytes(m, &rng);
        bps[s] = 8 * bytes * (m->fps / (double)(frames > 0 ? frames : 1));
        sum += bps[s];
    }
    qsort(bps, (size_t)seconds, sizeof *bps, by_value);
    r->seconds = seconds;
    r->mean_bps = sum / seconds;
    r->p50_bps = bps[(size_t)(0.50 * (seconds - 1))];
    r->p95_bps = bps[(size_t)(0.95 * (seconds - 1))];
    r->p99_bps = bps[(size_t)(0.99 * (seconds - 1))];
    r->max_bps = bps[seconds - 1];
    if (!m->cell_model) {
        r->expected_bps = 8.0 * m->cameras * m->fps * m->offload_rate * m->frame_bytes;
    } else { /* ignores the grid cap and the header's "only when something is sent" */
        r->expected_bps = 8.0 * m->cameras * m->fps *
                          (m->objects_mean * m->cells_per_object * m->cell_ratio * m->cell_bytes);
    }
    free(bps);
    return 0;
}
