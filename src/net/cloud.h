/* cloud.h - the cloud half of a split network, served over TCP.
 *
 * Threads: one accept loop (the caller's thread, in ecn_cloud_run); one
 * reader per connection, which reads frames and pushes them into a bounded
 * queue (a full queue blocks the reader: backpressure reaches the edge
 * through TCP); N workers, which pop a frame, decode it into their own
 * network (a network runs one forward pass at a time), run the layers after
 * the split and write the reply (a per-connection mutex keeps replies
 * whole).  A frame that does not decode gets a status-1 reply; a message
 * longer than ECN_MSG_MAX closes its connection only.
 *
 * Batching (max_batch B > 1): a worker that pops a frame also takes up to
 * B-1 more that are queued already (it never waits for more), decodes each
 * into its own image slot and runs the tail once for them all.  Each worker
 * holds networks of batch 1, 2, 4, ... and B (ecn_cloud_batch_sizes) and
 * runs the smallest that holds the frames it took: a network computes every
 * slot of its batch, so this bounds the work spent on empty slots to less
 * than half, at the memory of about twice the batch-B network per worker
 * (every size keeps its own copy of the weights).  Unused slots hold an
 * earlier frame (a copy of a good one the first time, never uninitialised
 * memory).  Images in a batch never mix at inference, so each frame's
 * scores are those of batch 1.  Every reply of a batch reports the batch's
 * time as its cloud microseconds.
 *
 * Authentication (key set; auth.h): each connection starts with hellos; a
 * reader checks every frame's tag and sequence number before queueing it.
 * A frame that fails gets a status-3 reply (unauthenticated, without a
 * trailer: the edge may not hold the key) and a line on the log naming the
 * peer (the first few of each connection; the count when it closes), and
 * the connection stays open: one bad message costs that frame only.  A
 * connection whose first message is not an edge hello is refused the same
 * way and closed.  Replies carry trailers.
 *
 * Stopping: when *stop becomes non-zero the server stops accepting and
 * reading, answers every frame already queued, and returns.
 */
#ifndef ECN_NET_CLOUD_H
#define ECN_NET_CLOUD_H

#include <signal.h>
#include <stdio.h>

#include "../ecnet.h"
#include "auth.h"

#define ECN_CLOUD_MAX_SIZES 32

typedef struct ecn_cloud_opts {
    const char *host;
    int port;            /* 0: the kernel picks one (ecn_cloud_port) */
    int workers;         /* >= 1 */
    int max_queue;       /* frames waiting before readers block */
    int max_batch;       /* frames one pass of a worker answers (>= 1) */
    const ecn_key *key;  /* NULL: no authentication; borrowed, must outlive the server */
    FILE *log;           /* refusals are reported here; NULL: nowhere */
} ecn_cloud_opts;

typedef struct ecn_cloud ecn_cloud;

/* The batch sizes of a worker's networks for max_batch: 1, 2, 4, ... below
 * it, then max_batch itself.  Returns how many (at most ECN_CLOUD_MAX_SIZES). */
int ecn_cloud_batch_sizes(int max_batch, int sizes[ECN_CLOUD_MAX_SIZES]);

/* nets: workers x sizes networks, worker by worker, each worker's in the
 * order of ecn_cloud_batch_sizes, weights loaded; owned by the server from
 * now on (freed by ecn_cloud_free, also when opening fails).  Listens. */
int ecn_cloud_open(ecn_net **nets, const ecn_cloud_opts *opts, ecn_cloud **out, ecn_err *err);
int ecn_cloud_port(const ecn_cloud *c);
/* Serve until *stop (a signal handler may set it). */
int ecn_cloud_run(ecn_cloud *c, volatile sig_atomic_t *stop, ecn_err *err);

typedef struct ecn_cloud_stats {
    long answered; /* frames answered (ok and bad) */
    long batches;  /* forward passes that answered them */
    long refused;  /* frames refused as unauthenticated */
} ecn_cloud_stats;
ecn_cloud_stats ecn_cloud_get_stats(ecn_cloud *c);
void ecn_cloud_free(ecn_cloud *c);

#endif
