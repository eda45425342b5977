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
 *
 * With a key (auth.h), each connection starts with hellos: the edge sends
 * its own and waits for the cloud's (ECN_EDGE_HELLO_MS at most) before the
 * first frame; frames go out sealed, and a reply counts only when its
 * trailer checks out (others are counted in bad_replies and their frames
 * fall back at the deadline).  A status-3 reply (the cloud refused the frame
 * as unauthenticated) is a fallback at once, counted in `refused`.  What
 * goes wrong with authentication (a cloud without a key, one that wants a
 * key the edge lacks, keys that differ) is written to the log once each.
 */
#ifndef ECN_NET_EDGE_H
#define ECN_NET_EDGE_H

#include <stdio.h>

#include "../ecnet.h"
#include "auth.h"

#define ECN_EDGE_HELLO_MS 1000 /* longest wait for the cloud's hello */

typedef struct ecn_edge_opts {
    const char *host;
    int port;
    int deadline_ms;    /* per offloaded frame, from the start of its head */
    int window;         /* frames in flight */
    const ecn_key *key; /* NULL: no authentication; borrowed, must outlive the edge */
    FILE *log;          /* connection and authentication problems; NULL: nowhere */
    int replay;         /* > 0: a load generator (ecn_edge_submit_keyed) for keys 0..replay-1 */
} ecn_edge_opts;

typedef struct ecn_edge_stats {
    long frames, results, labelled, correct, offloaded, fallbacks;
    long refused;         /* frames the cloud refused as unauthenticated (fallbacks too) */
    long bad_replies;     /* replies whose authentication failed, ignored */
    double offload_bytes; /* sum over offloaded frames */
    double *latency_ms;   /* one per result, in completion order */
} ecn_edge_stats;

typedef struct ecn_edge ecn_edge;

/* net: batch 1, weights loaded, with a [split]; borrowed, not freed. */
int ecn_edge_open(ecn_net *net, const ecn_edge_opts *opts, ecn_edge **out, ecn_err *err);
/* One image (ecn_net_input_shape floats); label < 0 when unknown.  May wait
 * for a reply when the window is full. */
int ecn_edge_submit(ecn_edge *e, const float *x, int label, ecn_err *err);
/* The same, as a load generator for the cloud: image `key`'s outcome (the
 * exit that answers it, or its frame) is computed on its first submission
 * and replayed afterwards without running the head again (a replayed frame
 * gets a fresh id).  So a few edge processes can load a cloud that a real
 * fleet would need many machines for.  Keys outside 0..opts.replay-1, or
 * opts.replay == 0, run as ecn_edge_submit does. */
int ecn_edge_submit_keyed(ecn_edge *e, const float *x, int key, int label, ecn_err *err);
/* Wait for every frame in flight (reply, deadline or fallback). */
void ecn_edge_drain(ecn_edge *e);
const ecn_edge_stats *ecn_edge_get_stats(const ecn_edge *e);
void ecn_edge_free(ecn_edge *e);

#endif
