/* edge.h - the edge half of a split network, talking to a cloud over TCP.
 *
 * For each image the edge runs the layers up to and including the [split].
 * The first early exit whose entropy is below its threshold answers at once
 * (as `ecnet eval` decides).  Otherwise the cut set is encoded into a frame
 * and sent; up to `window` frames are in flight at a time, and replies are
 * matched to frames by id.  A frame whose reply misses its deadline, comes
 * back as an error, or is lost with the connection is a *fallback*: it is
 * answered by its most confident exit (lowest entropy).  After a lost
 * connection the edge reconnects with backoff (50 ms doubling to 1 s) and
 * answers offloads with fallbacks meanwhile.  Every image gets exactly one
 * result.  Single-threaded: replies are read whenever the edge waits.
 */
#ifndef ECN_NET_EDGE_H
#define ECN_NET_EDGE_H

#include "../ecnet.h"

typedef struct ecn_edge_opts {
    const char *host;
    int port;
    int deadline_ms; /* per offloaded frame, from the start of its head */
    int window;      /* frames in flight */
} ecn_edge_opts;

typedef struct ecn_edge_stats {
    long frames, results, labelled, correct, offloaded, fallbacks;
    double offload_bytes; /* sum over offloaded frames */
    double *latency_ms;   /* one per result, in completion order */
} ecn_edge_stats;

typedef struct ecn_edge ecn_edge;

/* net: batch 1, weights loaded, with a [split]; borrowed, not freed. */
int ecn_edge_open(ecn_net *net, const ecn_edge_opts *opts, ecn_edge **out, ecn_err *err);
/* One image (ecn_net_input_shape floats); label < 0 when unknown.  May wait
 * for a reply when the window is full. */
int ecn_edge_submit(ecn_edge *e, const float *x, int label, ecn_err *err);
/* Wait for every frame in flight (reply, deadline or fallback). */
void ecn_edge_drain(ecn_edge *e);
const ecn_edge_stats *ecn_edge_get_stats(const ecn_edge *e);
void ecn_edge_free(ecn_edge *e);

#endif
