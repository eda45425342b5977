/* linkproxy.h - a weak wireless link between an edge and its cloud, emulated
 * on one machine.
 *
 * The proxy listens on a loopback port; the edge connects to it instead of
 * the cloud, and for each connection the proxy opens one to the cloud.  Both
 * directions carry length-prefixed messages (transport.h), and each direction
 * has its own emulated link (link.h): rate R, one-way delay D, loss P.  A
 * message that has fully arrived from one side is handed to its link, held
 * until the link says it arrives, then written to the other side, in order;
 * a lost message is dropped whole (TCP would have retransmitted it; the
 * proxy models the frame loss an application over UDP, or a deadline, sees).
 * Hellos (auth.h), which set a connection up, are delayed but never lost.
 * A message on the wire costs its 4-byte length prefix too.
 *
 * When either side closes, the other is closed as well and messages still
 * on the link are dropped, so the edge sees a lost connection as it would.
 * One connection at a time: a new one from the edge replaces the old.
 *
 * The proxy runs in its own thread; the caller only starts and stops it.
 */
#ifndef ECN_NET_LINKPROXY_H
#define ECN_NET_LINKPROXY_H

#include "../ecnet.h"

typedef struct ecn_link_opts {
    double rate_mbps;   /* 0: unlimited */
    double delay_ms;    /* one way */
    double loss;        /* probability that a message is lost, each direction */
    unsigned long long seed;
} ecn_link_opts;

typedef struct ecn_link_stats {
    long up_messages, up_lost;     /* edge -> cloud */
    long down_messages, down_lost; /* cloud -> edge */
    double up_bytes, down_bytes;   /* delivered, length prefixes included */
    long connections;
} ecn_link_stats;

typedef struct ecn_linkproxy ecn_linkproxy;

/* Start a proxy on 127.0.0.1 (an ephemeral port, returned in *port) that
 * forwards to cloud_host:cloud_port through the emulated link. */
int ecn_linkproxy_start(const char *cloud_host, int cloud_port, const ecn_link_opts *o, int *port,
                        ecn_linkproxy **out, ecn_err *err);
/* Stop the thread, close everything; *stats (optional) gets the counts. */
void ecn_linkproxy_stop(ecn_linkproxy *p, ecn_link_stats *stats);

#endif
