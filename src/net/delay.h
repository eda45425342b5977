/* delay.h - capture-to-output delay of local computing, pure offloading and
 * split computing, as a function of the edge-to-cloud data rate (the delay
 * model of Matsubara and Levorato's Fig. 5 and 6).
 *
 * Every time below is the mean seconds one image takes, measured on one
 * machine; the edge device is edge_slowdown times slower than that machine
 * (a Jetson is slower than a workstation), the cloud runs at its speed.
 * Sending b bytes at R bits/s takes
 *
 *     T_tx(b) = 8 b / R + latency.
 *
 * The options, for a rate R:
 *
 *   local         S * T_full                              (the edge runs all)
 *   offload       S * T_img + T_tx(image) + T_full        (the cloud runs all)
 *   split         S * (T_head + T_enc) + T_tx(frame) + T_dec + T_tail
 *   split+exits   S * T_head + (1 - e) * (S * T_enc + T_tx(frame) + T_dec + T_tail)
 *
 * with S the edge slowdown, T_img the edge's time to compress the image for
 * sending (0 to leave it out), and e the exit rate: the share of images an
 * early exit answers at the edge, which then encode and send nothing.  The
 * split+exits delay is the mean over images; a single image that no exit
 * answers takes the split delay (the worst case).  The edge runs the whole
 * head, exit branches included, before it decides.
 *
 * Each option's delay is a + b / R with a, b >= 0 (b = 0 for local), so the
 * best option as R grows changes at most once per pair, and the rates where
 * it changes are solved exactly (the lower envelope of lines a + b x in
 * x = 1 / R).
 */
#ifndef ECN_DELAY_H
#define ECN_DELAY_H

typedef enum ecn_delay_option {
    ECN_DELAY_LOCAL,
    ECN_DELAY_OFFLOAD,
    ECN_DELAY_SPLIT,
    ECN_DELAY_SPLIT_EXITS,
    ECN_DELAY_OPTIONS
} ecn_delay_option;

typedef struct ecn_delay_params {
    double t_full;        /* whole network, seconds */
    double t_head;        /* layers [0, split], exit branches included */
    double t_encode;      /* quantize, code and frame the cut set */
    double t_decode;      /* the cloud's unframe, decode, dequantize */
    double t_tail;        /* layers (split, end) */
    double t_image;       /* compress the image for pure offloading (0: not counted) */
    double image_bytes;   /* what pure offloading sends per image */
    double frame_bytes;   /* what split computing sends per offloaded image */
    double exit_rate;     /* share answered at the edge, [0, 1] */
    int has_exits;        /* 0: the split+exits option does not exist */
    double edge_slowdown; /* S >= 0 (1: the edge is this machine) */
    double latency_s;     /* one-way latency added to every transfer */
} ecn_delay_params;

typedef struct ecn_delay_crossover {
    double rate_bps;        /* where the best option changes */
    ecn_delay_option below; /* best just below that rate */
    ecn_delay_option above; /* best just above it */
} ecn_delay_crossover;

/* "local", "offload", "split", "split+exits". */
const char *ecn_delay_name(ecn_delay_option o);
/* 1 when option o exists for these parameters (split+exits needs has_exits). */
int ecn_delay_available(const ecn_delay_params *p, ecn_delay_option o);

/* Seconds to send `bytes` at rate_bps; +inf for a rate <= 0 and bytes > 0. */
double ecn_delay_tx(double bytes, double rate_bps, double latency_s);
/* The option's delay is a + b / R: its a (seconds) and b (bits). */
void ecn_delay_coef(const ecn_delay_params *p, ecn_delay_option o, double *a, double *b);
/* Capture-to-output delay of option o at rate_bps (seconds). */
double ecn_delay_of(const ecn_delay_params *p, ecn_delay_option o, double rate_bps);
/* The available option with the smallest delay at rate_bps (ties: the one
 * that sends fewer bits, then the first); its delay in *delay if not NULL. */
ecn_delay_option ecn_delay_best(const ecn_delay_params *p, double rate_bps, double *delay);
/* The rate where options i and j take equally long, or -1 when there is no
 * such positive rate (one is never slower, or they are the same line). */
double ecn_delay_pair_crossover(const ecn_delay_params *p, ecn_delay_option i, ecn_delay_option j);
/* The rates in (lo_bps, hi_bps) where the best option changes, increasing;
 * at most max are stored, the number found is returned. */
int ecn_delay_crossovers(const ecn_delay_params *p, double lo_bps, double hi_bps, ecn_delay_crossover *out,
                         int max);

#endif
