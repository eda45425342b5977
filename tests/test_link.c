/* test_link.c - the emulated link (src/net/link.c): serialisation at the
 * rate, the one-way delay, queueing behind earlier messages, the loss rate. */
#include <math.h>

#include "net/link.h"
#include "testlib.h"

int main(void)
{
    ecn_link l;
    ecn_link_init(&l, 1, 20, 0, 1); /* 1 Mbit/s, 20 ms */
    double a = ecn_link_send(&l, 0, 1250); /* 10 ms on the wire + 20 ms */
    CHECK(fabs(a - 0.030) < 1e-12, "first arrival %.6f, expected 0.030", a);
    double b = ecn_link_send(&l, 0.005, 1250); /* queues behind the first until 0.010 */
    CHECK(fabs(b - 0.040) < 1e-12, "queued arrival %.6f, expected 0.040", b);
    double c = ecn_link_send(&l, 1.0, 125); /* idle link: 1 ms + 20 ms */
    CHECK(fabs(c - 1.021) < 1e-12, "idle-link arrival %.6f, expected 1.021", c);
    ecn_link_init(&l, 0, 0, 0, 1);
    CHECK(ecn_link_send(&l, 2.5, 1 << 20) == 2.5, "an unlimited link delivers at once");
    ecn_link_init(&l, 100, 1, 0.1, 7);
    int lost = 0, n = 100000;
    for (int i = 0; i < n; i++) lost += ecn_link_send(&l, i * 1e-3, 100) < 0;
    CHECK(fabs((double)lost / n - 0.1) < 0.005, "loss rate %.4f, expected 0.1", (double)lost / n);
    ecn_link_init(&l, 1, 0, 1, 1);
    CHECK(ecn_link_send(&l, 0, 10) < 0, "loss 1 loses everything");
    return test_finish("test_link");
}
