/* rate.h - how much a fleet of edges sends the cloud (the transfer-rate model).
 *
 * n cameras run at f frames per second.  Each frame is either answered at the
 * edge or offloaded; what an offloaded frame costs is one of:
 *   - frame model: a whole split frame of B bytes, offloaded with
 *     probability p (the measured offload rate);
 *   - cell model: the image is a G x G grid of cells; a camera sees k objects
 *     (k random with mean m and variance s, Poisson when s = m, negative
 *     binomial when s > m, binomial when s < m), each covering c cells; the
 *     cells holding objects not recognised at the edge, a share r of them,
 *     are sent at b bytes each plus a header of h bytes (none when no cell is
 *     sent).
 * The cloud's ingress over each simulated second is the sum over cameras and
 * frames; its mean and percentiles come from many simulated seconds.
 */
#ifndef ECN_RATE_H
#define ECN_RATE_H

#include "ecnet.h"

typedef struct ecn_rate_model {
    int cameras;
    double fps;
    int cell_model;        /* 0: frame model, 1: cell model */
    /* frame model */
    double offload_rate;   /* p */
    double frame_bytes;    /* B */
    /* cell model */
    int grid;              /* G (YOLOv3's 7 x 7 in the paper) */
    double objects_mean;   /* m */
    double objects_var;    /* s */
    double cells_per_object; /* c */
    double cell_ratio;     /* r */
    double cell_bytes;     /* b */
    double header_bytes;   /* h */
} ecn_rate_model;

typedef struct ecn_rate_result {
    double mean_bps, p50_bps, p95_bps, p99_bps, max_bps; /* bits per second */
    double expected_bps;   /* the analytic mean (frame model exact; cell model up to the grid cap) */
    int seconds;
} ecn_rate_result;

/* Returns 0, or -1 with err for a model that makes no sense. */
int ecn_rate_simulate(const ecn_rate_model *m, int seconds, unsigned long long seed, ecn_rate_result *r,
                      ecn_err *err);

/* Draws used by the simulation (exposed for tests). */
int ecn_rate_objects(double mean, double var, unsigned long long *rng);

#endif
