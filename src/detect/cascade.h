/* cascade.h - the small-big model cascade: a small detector at the edge,
 * a big one in the cloud, and a policy that decides which frames go up.
 *
 * Each detector runs once over a list of images; its detections (every
 * class of every box above a low threshold, after NMS, as `ecnet map` keeps
 * them) are kept per image, so that any policy, any upload ratio and the
 * mAP can be computed afterwards without running a network again.  A run
 * can be saved to and read from a cache file keyed by what produced it.
 *
 * For a choice of uploaded frames, the end-to-end answer of a frame is the
 * big model's detections if it was uploaded, else the small model's:
 *
 *   upload_ratio      uploaded frames / frames
 *   objects           true objects found end to end: a detection with score
 *                     >= conf takes the truth of its class and image with the
 *                     highest IoU; a find when that IoU > iou and the truth
 *                     is not taken yet (VOC's rule, detections by score)
 *   objects_ratio     objects / objects the big model finds on every frame
 *   map50             VOC AP50 of the end-to-end detections (map.h)
 *   map50_ratio       map50 / the big model's map50 on every frame
 *   missed_escalated  of the frames where the small model shows nothing
 *                     (no detection with score >= conf) and the big model
 *                     finds an object, the share that is uploaded
 *
 * A ranking policy gives each frame a score, and a ratio R uploads the
 * round(R n) frames of highest score (ties: the lower frame number first):
 *
 *   random      a seeded random permutation
 *   blur        the frames of lowest Brenner focus measure (blur.h) first
 *   confidence  the paper's top-1 confidence: for each class, the highest
 *               score of the small model's detections of that class (0 when
 *               none), averaged over the classes; the lowest first
 *   top1        the highest score of any of the small model's detections;
 *               the lowest first
 *
 * The difficult-case discriminator is not a ranking; see discriminator.h.
 */
#ifndef ECN_CASCADE_H
#define ECN_CASCADE_H

#include "../ecnet.h"
#include "../train/data.h"
#include "map.h"
#include "map_net.h"

/* ---- one detector over a list ------------------------------------------- */

typedef struct ecn_cascade_dets {
    int images;
    int *first;        /* images + 1 offsets: image i owns det[first[i] .. first[i+1]) */
    ecn_map_item *det; /* each image's by descending score (ties: the order found) */
} ecn_cascade_dets;

/* The detections of a map set (images 0 .. images-1) grouped by image. */
int ecn_cascade_dets_from_map(const ecn_map_set *ms, int images, ecn_cascade_dets *d, ecn_err *err);
void ecn_cascade_dets_free(ecn_cascade_dets *d);

/* Run the network over images 0 .. limit-1 of ds (ecn_map_run) into *d. */
int ecn_cascade_detect(ecn_net *net, const ecn_dataset *ds, const ecn_map_run_opts *o, ecn_cascade_dets *d,
                       ecn_map_progress progress, void *user, ecn_err *err);

/* ---- the cache ------------------------------------------------------------
 * The key is a 64-bit FNV-1a hash of: the cfg file's bytes, the weights
 * file's bytes (or the text "random:SEED"), every image path of the list
 * with its file size and modification time, the number of images and the
 * run options (thresh, nms, resize).  A file is
 *     "ECNCASC1", key (u64), images (i32), then per image: count (i32) and
 *     count records of class (i32), score, x, y, w, h (f32)
 * in the host's byte order.  ecn_cascade_cache_load returns 1 when the file
 * is missing or holds another key (run the network), 0 when loaded, -1 on a
 * broken file. */
int ecn_cascade_key(const char *cfg, const char *weights, const ecn_dataset *ds, int images,
                    const ecn_map_run_opts *o, unsigned long long *key, ecn_err *err);
int ecn_cascade_cache_save(const char *path, unsigned long long key, const ecn_cascade_dets *d, ecn_err *err);
int ecn_cascade_cache_load(const char *path, unsigned long long key, ecn_cascade_dets *d, ecn_err *err);

/* ---- the cascade ----------------------------------------------------------- */

enum { ECN_SMALL = 0, ECN_BIG = 1 };

typedef struct ecn_cascade_frame {
    int truths;
    int found[2]; /* truths found by the small and the big model (score >= conf) */
    int shown[2]; /* detections with score >= conf */
} ecn_cascade_frame;

typedef struct ecn_cascade {
    /* given */
    int images, classes;
    ecn_box_label *const *truth;          /* per image, n_truth[i] boxes (as ecn_dataset holds them) */
    const int *n_truth;
    const ecn_cascade_dets *model[2];     /* ECN_SMALL, ECN_BIG */
    float conf, iou;                      /* working score (0.25) and match IoU (0.5) */
    /* filled by ecn_cascade_prepare */
    ecn_cascade_frame *frame;
    double map50[2];                      /* each model on every frame; -1 without truths */
} ecn_cascade;

/* Checks the models' image counts and classes; fills frame[] and map50[]. */
int ecn_cascade_prepare(ecn_cascade *c, ecn_err *err);
void ecn_cascade_free(ecn_cascade *c); /* what prepare allocated */

/* Truths of `truths` boxes found by detections det[0 .. n) (by descending
 * score) with score >= conf; `taken` has room for n_truth flags. */
int ecn_cascade_found(const ecn_map_item *det, int n, const ecn_box_label *truth, int n_truth, float conf,
                      float iou, unsigned char *taken);

typedef struct ecn_cascade_result {
    int images, uploaded;
    double upload_ratio;
    int truths, objects, objects_small, objects_big;
    double objects_ratio;                  /* -1 when the big model finds nothing */
    double map50, map50_small, map50_big;  /* -1 without truths */
    double map50_ratio;                    /* -1 when the big model's map50 is 0 or undefined */
    int missed_frames, missed_uploaded;
    double missed_escalated;               /* -1 when there is no such frame */
} ecn_cascade_result;

/* upload[i] != 0: frame i goes to the big model. */
int ecn_cascade_evaluate(const ecn_cascade *c, const unsigned char *upload, ecn_cascade_result *r, ecn_err *err);

/* ---- ranking policies ------------------------------------------------------ */

typedef enum ecn_cascade_policy {
    ECN_POLICY_DISCRIMINATOR,
    ECN_POLICY_RANDOM,
    ECN_POLICY_BLUR,
    ECN_POLICY_CONFIDENCE,
    ECN_POLICY_TOP1,
    ECN_POLICY_COUNT
} ecn_cascade_policy;

const char *ecn_cascade_policy_name(ecn_cascade_policy p);
int ecn_cascade_policy_parse(const char *name, ecn_cascade_policy *p); /* 0, or -1 when unknown */

/* score[i] for a ranking policy (the higher, the sooner uploaded).  focus
 * (Brenner, per image) is read by the blur policy only; seed by random. */
int ecn_cascade_rank(const ecn_cascade *c, ecn_cascade_policy p, const double *focus, unsigned long long seed,
                     double *score, ecn_err *err);

/* upload[i] = 1 for the round(ratio n) frames of highest score (ties: lower
 * i first), 0 for the others. */
int ecn_cascade_upload_top(const double *score, int n, double ratio, unsigned char *upload, ecn_err *err);

#endif
