/* data.h - training data: data sets, batches, augmentation.
 *
 * A data set is either held in memory (idx files such as Fashion-MNIST:
 * bytes, one shape for all) or a list of image files read lazily (Darknet
 * .data files: paths at open, pixels when a batch is filled).
 *
 * Two kinds of truth:
 *   classification  one label per example (labels[i] in [0, classes))
 *   detection       boxes per example (boxes[i][0 .. n_boxes[i]), Darknet's
 *                   label format: class and relative centre x, y, size w, h)
 *
 * Every function that can fail returns 0 or -1 and fills an ecn_err naming
 * the file (and line) and what was expected; nothing prints or exits.
 *
 * ---- ecn_dataset_open(spec, split, ...) ----
 *
 * spec "fashion-mnist": the four idx files
 *     {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
 * in /usr/share/datasets/fashion-mnist (or $ECNET_FASHION_DIR), read through
 * zlib (a file without the .gz suffix is read when the .gz one is absent).
 * split 0 is train (60000), split 1 is t10k (10000); 28 x 28 x 1, 10 classes.
 *
 * Any other spec is a Darknet .data file: key = value lines ('#' or ';'
 * starts a comment line; the first occurrence of a key wins, unknown keys
 * are ignored, as Darknet does).  Keys read:
 *     classes   number of classes (optional when names/labels give them;
 *               when both are there they must agree)
 *     train     list of image paths, one a line (split 0)
 *     valid     the same for split 1
 *     labels    class names for classification (Darknet's classifier key)
 *     names     class names (Darknet's detector key; classification falls
 *               back to it when there is no labels key)
 *     type      ecnet's own, optional: "classification" or "detection"
 * A relative path (the lists, the names, and each image path in a list) is
 * looked up relative to the current directory first, as Darknet does, then
 * relative to the .data file's directory, then (image paths) relative to the
 * list file's directory.
 *
 * Which kind of set: type= when given; else a labels key means
 * classification; else detection if any image of the list has a label file,
 * classification otherwise.
 *
 * Classification label of a path: the class name that occurs as a substring
 * of the path as written in the list (Darknet's rule); when several do, the
 * longest wins, then the first listed.  A path with no class name in it is an
 * error naming the list's line.
 *
 * Detection label file: the image path as written in the list with the
 * first "images" replaced by "labels", then the first "JPEGImages" by
 * "labels" (Darknet's replacements), and the extension (whatever it is:
 * .jpg .jpeg .png .JPG ...) replaced by .txt (appended when there is none);
 * looked up from the same directory the image was found from.  Each line:
 * "class x y w h".  A missing label file means no objects.  Read at open.
 *
 * ---- ecn_dataset_batch ----
 *
 * Per example, in order: the image (in-memory bytes, or ecn_image_load with
 * in.c channels), a one-channel set is repeated into in.c channels;
 * detection jitter (a crop, see below); a plain Darknet resize
 * (ecn_image_resize) to in.w x in.h when the size differs; then the random
 * crop (pad with zeros by crop_pad on every side, take an in.w x in.h window
 * at a random offset), the random horizontal flip and the colour change.  Without aug nothing
 * random happens and rng is not touched.
 *
 * The random draws per example (so a caller can predict them), in order,
 * each one ecn_rng_next / ecn_rng_uniform on *rng:
 *   detection with jitter > 0: 4 draws ecn_rng_uniform: left, right, top,
 *       bottom offsets, each (int)(u * 2d - d) with d = (int)(jitter * size)
 *       (Darknet's load_data_region crop: positive cuts, negative pads by
 *       repeating the edge pixels);
 *   crop_pad > 0: 2 draws ecn_rng_next: x offset, then y offset, each
 *       r % (2 * crop_pad + 1); the window starts at offset - crop_pad;
 *   flip: 1 draw, flipped when ecn_rng_next(rng) >> 63 is 1;
 *   colour (hue, saturation or exposure nonzero, 3-channel input): 3 draws
 *       ecn_rng_uniform u1, u2, u3: the hue turns by (2 u1 - 1) * hue of a
 *       full circle, saturation and value are scaled by s^(2 u2 - 1) and
 *       e^(2 u3 - 1) (log-uniform in [1/s, s]; a factor of 0 is taken as 1),
 *       then clamped to [0, 1] (Darknet's random_distort_image, in HSV);
 *   detection with more than one box: n - 1 draws of ecn_shuffle's kind to
 *       shuffle the box order (as Darknet's randomize_boxes does).
 * Boxes follow every geometric step, are clamped to the frame, and are
 * dropped when narrower or lower than 0.001 (Darknet's rule).
 */
#ifndef ECN_TRAIN_DATA_H
#define ECN_TRAIN_DATA_H

#include "../ecnet.h"

typedef struct ecn_box_label {
    int cls;
    float x, y, w, h; /* relative centre/size, Darknet label format */
} ecn_box_label;

typedef struct ecn_dataset {
    int n;                 /* examples */
    int classes;
    ecn_shape shape;       /* native image shape when all share one (idx files); else 0s */
    unsigned char *pixels; /* in-memory images (idx): n * shape size bytes, CHW */
    int *labels;           /* classification label per example, -1 when unknown */
    char **paths;          /* image files (lists), NULL for in-memory sets */
    char **names;          /* class names (classes of them) or NULL */
    ecn_box_label **boxes; /* detection: per example, n_boxes[i] boxes (NULL when not detection) */
    int *n_boxes;
} ecn_dataset;

typedef struct ecn_augment {
    int flip;     /* random horizontal flip */
    int crop_pad; /* random crop: pad by this many pixels (zeros), crop back to size */
    float jitter; /* detection: Darknet-style random aspect/scale jitter, [0, 0.5); 0 = off */
    float hue;        /* random hue turn, up to this share of the circle, [0, 0.5]; 0 = off */
    float saturation; /* random saturation factor in [1/s, s], s >= 1; 0 or 1 = off */
    float exposure;   /* random value (brightness) factor in [1/e, e], e >= 1; 0 or 1 = off */
} ecn_augment;

/* spec: "fashion-mnist" or a Darknet .data file; split 0 = train, 1 = valid/test.
 * On failure *ds is left empty (ecn_dataset_free is still safe). */
int ecn_dataset_open(const char *spec, int split, ecn_dataset *ds, ecn_err *err);

/* An idx image file (magic 0x00000803: count, rows, columns, then bytes) and
 * its idx label file (magic 0x00000801: count, then bytes), gzipped or not.
 * classes 0 means the largest label + 1. */
int ecn_dataset_open_idx(const char *images_path, const char *labels_path, int classes,
                         ecn_dataset *ds, ecn_err *err);

void ecn_dataset_free(ecn_dataset *ds);

/* 1 when the set carries boxes (detection), 0 for classification. */
static inline int ecn_dataset_is_detection(const ecn_dataset *ds) { return ds->boxes != 0; }

/* Fill a batch for a network input of shape `in`.
 *   indices  count example numbers (NULL: 0 .. count-1)
 *   x        count * ecn_shape_size(in) floats, values in [0,1], CHW
 *   truth    NULL, or count * truth_floats floats:
 *            classification: one-hot in the first `classes` (truth_floats >= classes);
 *            detection: truth_floats / 5 boxes (x, y, w, h, class), zero-padded
 *            (truth_floats a positive multiple of 5)
 *   aug      NULL for none; rng must then be given (see above for the draws).
 * Deterministic given *rng.  Never allocates for an in-memory set whose
 * images already have the input's height and width. */
int ecn_dataset_batch(const ecn_dataset *ds, const int *indices, int count, ecn_shape in,
                      const ecn_augment *aug, unsigned long long *rng, float *x, float *truth,
                      int truth_floats, ecn_err *err);

/* Fisher-Yates with ecn_rng_next: for i = n-1 down to 1, swap idx[i] and
 * idx[ecn_rng_next(rng) % (i + 1)]. */
void ecn_shuffle(int *idx, int n, unsigned long long *rng);

#endif
