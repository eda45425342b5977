/* optimizer.h - learning-rate policies and parameter updates, as Darknet's [net].
 *
 * Gradients accumulate in each ecn_param's grad as -dL/dvalue summed over a
 * batch (see layer.h).  An update applies them:
 *   SGD:  grad += -decay * batch * value          (weights only)
 *         value += lr / batch * grad
 *         grad  *= momentum                        (grad doubles as velocity)
 *   Adam: m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g²  (g includes the decay)
 *         value += lr * m̂ / (sqrt(v̂) + eps),  m̂ = m / (1 - b1^t), v̂ = v / (1 - b2^t)
 *         grad = 0
 */
#ifndef ECN_OPTIMIZER_H
#define ECN_OPTIMIZER_H

#include "core/net.h"

/* Learning rate at batch number `batch_num` under the [net] policy. */
float ecn_learning_rate(const ecn_train_params *t, int batch_num, unsigned long long *rng);

typedef struct ecn_optimizer ecn_optimizer;

int ecn_optimizer_create(ecn_net *net, ecn_optimizer **out, ecn_err *err);
void ecn_optimizer_free(ecn_optimizer *opt);
/* Apply the accumulated gradients of `batch` images with learning rate lr. */
void ecn_optimizer_update(ecn_optimizer *opt, float lr, int batch);
/* Zero every gradient (and momentum). */
void ecn_optimizer_zero(ecn_optimizer *opt);

#endif
