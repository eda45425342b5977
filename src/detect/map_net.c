/* map_net.c - a detector over a data set, for mAP (see map_net.h).
 *
 * For each group of up to `batch` images: load and letterbox each into its
 * slot of the input; one forward pass; then per image b, every detector
 * head's decoder reads its output at offset b * (one image's output), the
 * detections of all heads go through NMS together, and they and the image's
 * labelled boxes go into the map set.
 */
#include "map_net.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/net.h"
#include "detections.h"

int ecn_net_is_detector(const ecn_net *net)
{
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].ops->detections && net->layers[i].ops->max_detections) return 1;
    return 0;
}

/* Detections of image b of the last forward pass, as ecn_net_detections
 * gives them for image 0: decoded, letterbox undone, NMS applied. */
static int detections_of(const ecn_net *net, int b, const ecn_detect_opts *dop, ecn_detection **dets, int *count,
                         ecn_err *err)
{
    long long cap = 0;
    for (int i = 0; i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        if (l->ops->detections && l->ops->max_detections) cap += l->ops->max_detections(l);
    }
    ecn_detection *d = ecn_calloc(cap > 0 ? (size_t)cap : 1, sizeof *d, err);
    if (!d) return -1;
    int n = 0;
    for (int i = 0; i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        if (!l->ops->detections || !l->ops->max_detections) continue;
        const float *out = ecn_net_layer_output(net, i);
        int got = out ? l->ops->detections(l, out + (size_t)b * ecn_shape_size(l->out), dop, net->input, d + n,
                                           (int)cap - n)
                      : -1;
        if (got < 0) {
            ecn_detections_free(d, n);
            return ecn_fail(err, "layer %d ([%s]): cannot decode its detections", i, l->ops->name);
        }
        n += got;
    }
    int kept = dop->nms > 0 ? ecn_nms_sort(d, n, dop->nms) : n;
    for (int i = kept; i < n; i++) {
        free(d[i].prob);
        d[i].prob = NULL;
    }
    *dets = d;
    *count = kept;
    return 0;
}

/* Load image i into slot x (the network input's size); its size into *w, *h. */
static int load_slot(const ecn_net *net, const ecn_dataset *ds, int i, int resize, float *x, int *w, int *h,
                     ecn_err *err)
{
    ecn_shape s = net->input;
    ecn_image im = {0}, in = {0};
    int rc = ecn_image_load(ds->paths[i], s.c, &im, err);
    if (!rc) rc = resize ? ecn_image_resize(&im, s.w, s.h, &in, err) : ecn_image_letterbox(&im, s.w, s.h, &in, err);
    if (!rc) memcpy(x, in.data, ecn_shape_size(s) * sizeof *x);
    *w = im.w, *h = im.h;
    ecn_image_free(&im);
    ecn_image_free(&in);
    return rc;
}

/* Image i's detections (slot b of the forward pass) and truths into ms. */
static int collect_one(const ecn_net *net, const ecn_dataset *ds, int i, int b, int w, int h,
                       const ecn_map_run_opts *o, ecn_map_set *ms, ecn_err *err)
{
    ecn_detect_opts dop = {o->thresh, o->nms, w, h, !o->resize};
    ecn_detection *dets = NULL;
    int n = 0, rc = detections_of(net, b, &dop, &dets, &n, err);
    if (!rc && n > 0 && dets[0].classes != ds->classes)
        rc = ecn_fail(err, "the network detects %d classes, the data set has %d: expected the same", dets[0].classes,
                      ds->classes);
    ms->image_w = w, ms->image_h = h;
    if (!rc) rc = ecn_map_add_detections(ms, i, dets, n, err);
    for (int k = 0; !rc && k < ds->n_boxes[i]; k++) {
        const ecn_box_label *l = &ds->boxes[i][k];
        rc = ecn_map_add_gt(ms, i, l->cls, (ecn_box){l->x, l->y, l->w, l->h}, err);
    }
    ecn_detections_free(dets, n);
    return rc;
}

int ecn_map_run(ecn_net *net, const ecn_dataset *ds, const ecn_map_run_opts *o, ecn_map_set *ms,
                ecn_map_progress progress, void *user, ecn_err *err)
{
    if (!ecn_net_is_detector(net)) return ecn_fail(err, "the network has no [yolo] or [region] layer to detect with");
    if (!ecn_dataset_is_detection(ds) || !ds->paths)
        return ecn_fail(err, "the image list has no label files: not a detection set");
    int images = o->limit > 0 && o->limit < ds->n ? o->limit : ds->n, batch = net->batch;
    size_t per = ecn_shape_size(net->input);
    float *x = ecn_calloc((size_t)batch * per, sizeof *x, err);
    int *w = ecn_calloc((size_t)batch, sizeof *w, err), *h = ecn_calloc((size_t)batch, sizeof *h, err);
    int rc = x && w && h ? 0 : -1;
    for (int first = 0; !rc && first < images; first += batch) {
        int count = images - first < batch ? images - first : batch;
        for (int b = 0; !rc && b < count; b++) rc = load_slot(net, ds, first + b, o->resize, x + b * per, &w[b], &h[b], err);
        if (!rc && !ecn_net_forward(net, x, NULL, NULL)) rc = ecn_fail(err, "the forward pass failed");
        for (int b = 0; !rc && b < count; b++) rc = collect_one(net, ds, first + b, b, w[b], h[b], o, ms, err);
        if (!rc && progress) progress(user, first + count, images);
    }
    free(x);
    free(w);
    free(h);
    return rc;
}
