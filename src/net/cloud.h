/* cloud.h - the cloud half of a split network, served over TCP.
 *
 * Threads: one accept loop (the caller's thread, in ecn_cloud_run); one
 * reader per connection, which reads frames and pushes them into a bounded
 * queue (a full queue blocks the reader: backpressure reaches the edge
 * through TCP); N workers, each owning one copy of the network (a network
 * runs one forward pass at a time), which pop a frame, decode it into their
 * copy, run the layers after the split and write the reply (a per-connection
 * mutex keeps replies whole).  A frame that does not decode gets a status-1
 * reply; a message longer than ECN_MSG_MAX closes its connection only.
 *
 * Stopping: when *stop becomes non-zero the server stops accepting and
 * reading, answers every frame already queued, and returns.
 */
#ifndef ECN_NET_CLOUD_H
#define ECN_NET_CLOUD_H

#include <signal.h>

#include "../ecnet.h"

typedef struct ecn_cloud ecn_cloud;

/* nets: `workers` networks (batch 1, weights loaded), owned by the server
 * from now on (freed by ecn_cloud_free).  Listens on host:port. */
int ecn_cloud_open(ecn_net **nets, int workers, int max_queue, const char *host, int port, ecn_cloud **out,
                   ecn_err *err);
int ecn_cloud_port(const ecn_cloud *c);
/* Serve until *stop (a signal handler may set it). */
int ecn_cloud_run(ecn_cloud *c, volatile sig_atomic_t *stop, ecn_err *err);
/* Frames answered so far (ok and bad). */
long ecn_cloud_answered(const ecn_cloud *c);
void ecn_cloud_free(ecn_cloud *c);

#endif
