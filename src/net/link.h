/* link.h - an emulated network link: rate, delay, loss.
 *
 * Messages leave the sender in order.  A link of R bits/s serialises them one
 * after another (a message of n bytes occupies the link for 8n/R seconds,
 * starting when both it has been sent and the previous one has left), then
 * takes D more seconds to arrive; with probability P a message is lost on the
 * way (it still used the link).  So one machine can reproduce a weak wireless
 * link between an edge and its cloud: the edge asks the link when a frame it
 * sends now would arrive, and holds it back until then (or drops it).
 */
#ifndef ECN_LINK_H
#define ECN_LINK_H

#include <stddef.h>

typedef struct ecn_link {
    double rate_bps;   /* 0: unlimited */
    double delay_s;    /* one way */
    double loss;       /* probability in [0, 1] */
    double busy_until; /* when the link finishes the last accepted message */
    unsigned long long rng;
} ecn_link;

void ecn_link_init(ecn_link *l, double rate_mbps, double delay_ms, double loss, unsigned long long seed);
/* A message of n bytes sent at time `now` (seconds): returns its arrival
 * time, or a negative number when it is lost. */
double ecn_link_send(ecn_link *l, double now, size_t n);

#endif
