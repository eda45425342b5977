/* link.c - see link.h. */
#include "link.h"

#include "core/layer.h" /* ecn_rng_* */

void ecn_link_init(ecn_link *l, double rate_mbps, double delay_ms, double loss, unsigned long long seed)
{
    l->rate_bps = rate_mbps > 0 ? rate_mbps * 1e6 : 0;
    l->delay_s = delay_ms > 0 ? delay_ms / 1e3 : 0;
    l->loss = loss < 0 ? 0 : loss > 1 ? 1 : loss;
    l->busy_until = 0;
    l->rng = seed;
}

double ecn_link_send(ecn_link *l, double now, size_t n)
{
    double start = now > l->busy_until ? now : l->busy_until;
    double done = start + (l->rate_bps > 0 ? 8.0 * (double)n / l->rate_bps : 0);
    l->busy_until = done;
    if (l->loss > 0 && ecn_rng_uniform(&l->rng) < l->loss) return -1;
    return done + l->delay_s;
}
