/* delay.c - see delay.h. */
#include "delay.h"

#include <math.h>

const char *ecn_delay_name(ecn_delay_option o)
{
    switch (o) {
    case ECN_DELAY_LOCAL: return "local";
    case ECN_DELAY_OFFLOAD: return "offload";
    case ECN_DELAY_SPLIT: return "split";
    case ECN_DELAY_SPLIT_EXITS: return "split+exits";
    default: return "?";
    }
}

int ecn_delay_available(const ecn_delay_params *p, ecn_delay_option o)
{
    return o >= 0 && o < ECN_DELAY_OPTIONS && (o != ECN_DELAY_SPLIT_EXITS || p->has_exits);
}

double ecn_delay_tx(double bytes, double rate_bps, double latency_s)
{
    if (bytes <= 0) return latency_s;
    if (!(rate_bps > 0)) return INFINITY;
    return 8 * bytes / rate_bps + latency_s;
}

void ecn_delay_coef(const ecn_delay_params *p, ecn_delay_option o, double *a, double *b)
{
    double s = p->edge_slowdown, lat = p->latency_s;
    double keep = 1 - (p->exit_rate < 0 ? 0 : p->exit_rate > 1 ? 1 : p->exit_rate); /* share offloaded */
    switch (o) {
    case ECN_DELAY_LOCAL:
        *a = s * p->t_full, *b = 0;
        break;
    case ECN_DELAY_OFFLOAD:
        *a = s * p->t_image + lat + p->t_full, *b = 8 * p->image_bytes;
        break;
    case ECN_DELAY_SPLIT:
        *a = s * (p->t_head + p->t_encode) + lat + p->t_decode + p->t_tail, *b = 8 * p->frame_bytes;
        break;
    case ECN_DELAY_SPLIT_EXITS:
        *a = s * p->t_head + keep * (s * p->t_encode + lat + p->t_decode + p->t_tail);
        *b = keep * 8 * p->frame_bytes;
        break;
    default:
        *a = INFINITY, *b = 0;
    }
}

double ecn_delay_of(const ecn_delay_params *p, ecn_delay_option o, double rate_bps)
{
    double a, b;
    ecn_delay_coef(p, o, &a, &b);
    if (b <= 0) return a;
    return rate_bps > 0 ? a + b / rate_bps : INFINITY;
}

ecn_delay_option ecn_delay_best(const ecn_delay_params *p, double rate_bps, double *delay)
{
    ecn_delay_option best = ECN_DELAY_LOCAL;
    double bd = INFINITY, bb = INFINITY;
    for (int o = 0; o < ECN_DELAY_OPTIONS; o++) {
        if (!ecn_delay_available(p, (ecn_delay_option)o)) continue;
        double a, b, d = ecn_delay_of(p, (ecn_delay_option)o, rate_bps);
        ecn_delay_coef(p, (ecn_delay_option)o, &a, &b);
        if (d < bd || (d == bd && b < bb)) best = (ecn_delay_option)o, bd = d, bb = b;
    }
    if (delay) *delay = bd;
    return best;
}

double ecn_delay_pair_crossover(const ecn_delay_params *p, ecn_delay_option i, ecn_delay_option j)
{
    if (!ecn_delay_available(p, i) || !ecn_delay_available(p, j)) return -1;
    double ai, bi, aj, bj;
    ecn_delay_coef(p, i, &ai, &bi);
    ecn_delay_coef(p, j, &aj, &bj);
    if (bi == bj) return -1;
    double x = (aj - ai) / (bi - bj); /* x = 1 / R where a_i + b_i x = a_j + b_j x */
    return x > 0 && isfinite(x) ? 1 / x : -1;
}

/* Walk the lower envelope of the lines a + b x from x = 1 / hi towards
 * x = 1 / lo (falling rate): the best line can only give way to one with a
 * smaller slope b, at the nearest intersection ahead. */
int ecn_delay_crossovers(const ecn_delay_params *p, double lo_bps, double hi_bps, ecn_delay_crossover *out,
                         int max)
{
    double a[ECN_DELAY_OPTIONS], b[ECN_DELAY_OPTIONS];
    for (int o = 0; o < ECN_DELAY_OPTIONS; o++) ecn_delay_coef(p, (ecn_delay_option)o, &a[o], &b[o]);
    double x = hi_bps > 0 && isfinite(hi_bps) ? 1 / hi_bps : 0;
    double x_end = lo_bps > 0 ? 1 / lo_bps : INFINITY;
    if (!(x < x_end)) return 0;
    /* the best just above x: smallest delay, ties to the smaller slope */
    int cur = -1;
    for (int o = 0; o < ECN_DELAY_OPTIONS; o++) {
        if (!ecn_delay_available(p, (ecn_delay_option)o)) continue;
        double d = a[o] + b[o] * x, dc = cur < 0 ? INFINITY : a[cur] + b[cur] * x;
        if (cur < 0 || d < dc || (d == dc && b[o] < b[cur])) cur = o;
    }
    int n = 0;
    for (;;) {
        int next = -1;
        double xn = INFINITY;
        for (int o = 0; o < ECN_DELAY_OPTIONS; o++) {
            if (!ecn_delay_available(p, (ecn_delay_option)o) || !(b[o] < b[cur])) continue;
            double xo = (a[o] - a[cur]) / (b[cur] - b[o]);
            if (xo < x) xo = x; /* rounding: it is already as good here */
            if (next < 0 || xo < xn || (xo == xn && b[o] < b[next])) next = o, xn = xo;
        }
        if (next < 0 || !(xn < x_end)) break;
        if (xn > x) { /* a change strictly inside the range (a tie at its end is none) */
            if (n < max) out[n] = (ecn_delay_crossover){1 / xn, (ecn_delay_option)next, (ecn_delay_option)cur};
            n++;
        }
        cur = next, x = xn;
    }
    /* found by falling rate: put them in increasing order */
    int m = n < max ? n : max;
    for (int i = 0; i < m / 2; i++) {
        ecn_delay_crossover t = out[i];
        out[i] = out[m - 1 - i], out[m - 1 - i] = t;
    }
    return n;
}
