/* train.h - the training loop: batches, updates, checkpoints, resume.
 *
 * One iteration = one update = batch images of [net] (fed as `subdivisions`
 * forward/backward passes of batch/subdivisions images each).  Training runs
 * until max_batches iterations.  The images of iteration i are fixed by the
 * seed: image number s (counting from the start of training) is example
 * perm_e[s mod n] of epoch e = s / n, perm_e a shuffle seeded by (seed, e),
 * and augmentation and dropout draw from a generator seeded by (seed, i).  So
 * a run resumed from a checkpoint (whose header holds `seen`, the images
 * trained on) continues exactly as the uninterrupted run would, except for
 * the momentum, which a .weights file does not hold (as in Darknet).
 *
 * Classification sets give one-hot truth (classes floats per image);
 * detection sets give up to B boxes per image, 5 floats each (x, y, w, h,
 * class, zero-padded), B the most boxes any image of the set has (a
 * [yolo]/[region] head reads at most its max= of them).  After each epoch a
 * classifier is measured by top-1 on the validation set, a detector by VOC
 * mAP@0.5 (map_net.h) on its first valid_limit images.
 */
#ifndef ECN_TRAIN_H
#define ECN_TRAIN_H

#include <signal.h>

#include "core/net.h"
#include "train/data.h"

typedef struct ecn_train_status {
    int iteration, max_iterations;
    int epoch;              /* epochs completed */
    float loss, avg_loss;   /* per image: last iteration, running average */
    float lr;
    double images_per_s, elapsed_s, eta_s;
    double valid_top1;      /* after an epoch, when a validation set is given; else -1 */
    double valid_map50;     /* the same for a detector: mAP@0.5; else -1 */
} ecn_train_status;

typedef void (*ecn_train_callback)(void *user, const ecn_train_status *st);

typedef struct ecn_train_opts {
    const char *out_dir;       /* checkpoints: OUT/NAME_last.weights, OUT/NAME_final.weights */
    const char *name;
    int save_every;            /* iterations between checkpoints; 0: once per epoch */
    unsigned long long seed;
    const ecn_augment *aug;    /* NULL: none */
    const ecn_dataset *valid;  /* evaluated after each epoch when not NULL */
    int valid_limit;           /* detection: only the first valid_limit images; 0: all */
    volatile sig_atomic_t *stop; /* becomes nonzero: save a checkpoint and return */
    ecn_train_callback on_iteration, on_epoch;
    void *user;
} ecn_train_opts;

/* net must be built with batch = [net] batch / subdivisions.  Returns 0 when
 * max_batches is reached or *stop was set (both after saving), -1 on error. */
int ecn_train(ecn_net *net, const ecn_dataset *train, const ecn_train_opts *o, ecn_err *err);

/* Build a network for training from its cfg: the mini-batch is [net]
 * batch / subdivisions, as Darknet runs it. */
int ecn_train_open(const char *cfg, int threads, ecn_net **net, ecn_err *err);

/* Paths of the checkpoint files in out_dir for `name`. */
void ecn_train_paths(const ecn_train_opts *o, char *last, char *final, size_t size);

#endif
