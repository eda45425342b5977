/* detections.c - from detector-head outputs to a list of boxes.
 *
 * ecn_net_detections asks every layer that has a `detections` op ([yolo],
 * [region]) to decode its kept output, in layer order, and concatenates the
 * results.  Each head gives boxes relative to the network input and undoes
 * the letterbox itself (ecn_correct_letterbox).  Then Darknet's per-class
 * non-maximum suppression (do_nms_sort) runs over the whole list:
 *
 *   1. detections with objectness 0 go to the end and take no part;
 *   2. for each class k: sort the rest by prob[k], highest first; walk the
 *      list and let every box i with prob[k] != 0 zero prob[k] of each later
 *      box j with IoU(i, j) > nms.
 *
 * A box therefore survives per class: one detection may keep "dog" and lose
 * "cat".  Detections with objectness 0 carry no probability and are dropped
 * from the list we return (Darknet keeps them at the end, all zero).
 *
 * The drawing code rasterises the quads of stb_easy_font (libstb-dev) for
 * the labels.
 */
#include "detections.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/net.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

/* ---- boxes ---------------------------------------------------------- */

/* Length of the overlap of [x1-w1/2, x1+w1/2] and [x2-w2/2, x2+w2/2];
 * negative when they are apart. */
static float overlap(float x1, float w1, float x2, float w2)
{
    float l1 = x1 - w1 / 2, l2 = x2 - w2 / 2;
    float left = l1 > l2 ? l1 : l2;
    float r1 = x1 + w1 / 2, r2 = x2 + w2 / 2;
    float right = r1 < r2 ? r1 : r2;
    return right - left;
}

float ecn_box_intersection(ecn_box a, ecn_box b)
{
    float w = overlap(a.x, a.w, b.x, b.w);
    float h = overlap(a.y, a.h, b.y, b.h);
    if (w < 0 || h < 0) return 0;
    return w * h;
}

float ecn_box_union(ecn_box a, ecn_box b)
{
    float i = ecn_box_intersection(a, b);
    return a.w * a.h + b.w * b.h - i;
}

float ecn_box_iou(ecn_box a, ecn_box b)
{
    return ecn_box_intersection(a, b) / ecn_box_union(a, b);
}

/* ---- letterbox ------------------------------------------------------ */

void ecn_letterbox_size(int image_w, int image_h, int net_w, int net_h, int *new_w, int *new_h)
{
    /* The same rule as ecn_image_letterbox (src/core/image.c). */
    if ((float)net_w / image_w < (float)net_h / image_h) {
        *new_w = net_w;
        *new_h = (int)((long long)image_h * net_w / image_w);
    } else {
        *new_h = net_h;
        *new_w = (int)((long long)image_w * net_h / image_h);
    }
    if (*new_w < 1) *new_w = 1;
    if (*new_h < 1) *new_h = 1;
}

void ecn_correct_letterbox(ecn_detection *d, int n, int image_w, int image_h, int net_w,
                           int net_h)
{
    if (image_w <= 0 || image_h <= 0 || net_w <= 0 || net_h <= 0) return;
    int new_w, new_h;
    ecn_letterbox_size(image_w, image_h, net_w, net_h, &new_w, &new_h);
    for (int i = 0; i < n; i++) {
        ecn_box b = d[i].box;
        /* Darknet's expressions: the offsets are doubles, the scales floats. */
        b.x = (float)((b.x - (net_w - new_w) / 2. / net_w) / ((float)new_w / net_w));
        b.y = (float)((b.y - (net_h - new_h) / 2. / net_h) / ((float)new_h / net_h));
        b.w *= (float)net_w / new_w;
        b.h *= (float)net_h / new_h;
        d[i].box = b;
    }
}

/* ---- non-maximum suppression ---------------------------------------- */

static float prob_of(const ecn_detection *d, int k) { return k < d->classes ? d->prob[k] : 0; }

/* Stable merge sort of d[0..n) by prob[k], highest first.  Darknet compares
 * with diff = a - b (a after b when diff < 0); equal keys keep their order. */
static void sort_by_class(ecn_detection *d, ecn_detection *tmp, int n, int k)
{
    if (n < 2) return;
    int mid = n / 2;
    sort_by_class(d, tmp, mid, k);
    sort_by_class(d + mid, tmp, n - mid, k);
    int i = 0, j = mid, o = 0;
    while (i < mid && j < n) {
        float diff = prob_of(&d[i], k) - prob_of(&d[j], k);
        tmp[o++] = diff < 0 ? d[j++] : d[i++];
    }
    while (i < mid) tmp[o++] = d[i++];
    while (j < n) tmp[o++] = d[j++];
    memcpy(d, tmp, (size_t)n * sizeof *d);
}

int ecn_nms_sort(ecn_detection *d, int n, float nms)
{
    /* Swap the empty ones to the end exactly as Darknet does, so that the
     * order the sorts start from (and so the result) is Darknet's. */
    int last = n - 1;
    for (int i = 0; i <= last; i++) {
        if (d[i].objectness == 0) {
            ecn_detection t = d[i];
            d[i] = d[last];
            d[last] = t;
            last--;
            i--;
        }
    }
    int total = last + 1;
    if (total < 2) return total;

    int classes = 0;
    for (int i = 0; i < total; i++)
        if (d[i].classes > classes) classes = d[i].classes;
    ecn_detection *tmp = malloc((size_t)total * sizeof *tmp);
    for (int k = 0; k < classes; k++) {
        if (tmp) sort_by_class(d, tmp, total, k);
        /* Without memory for the sort the suppression still runs, in the
         * detections' order: weaker boxes may then suppress stronger ones. */
        for (int i = 0; i < total; i++) {
            if (prob_of(&d[i], k) == 0) continue;
            for (int j = i + 1; j < total; j++)
                if (k < d[j].classes && ecn_box_iou(d[i].box, d[j].box) > nms) d[j].prob[k] = 0;
        }
    }
    free(tmp);
    return total;
}

/* ---- the whole network ---------------------------------------------- */

int ecn_net_detections(const ecn_net *net, const ecn_detect_opts *opts, ecn_detection **dets,
                       int *count, ecn_err *err)
{
    static const ecn_detect_opts defaults = {.thresh = .5f, .nms = .45f};
    if (!opts) opts = &defaults;
    *dets = NULL;
    *count = 0;

    long long cap = 0;
    for (int i = 0; i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        if (l->ops->detections && l->ops->max_detections) cap += l->ops->max_detections(l);
    }
    if (cap == 0)
        return ecn_fail(err, "the network has no detector layer ([yolo] or [region]) to decode");
    if (cap > INT_MAX) return ecn_fail(err, "too many candidate detections (%lld)", cap);

    ecn_detection *d = ecn_calloc((size_t)cap, sizeof *d, err);
    if (!d) return -1;
    int n = 0;
    for (int i = 0; i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        if (!l->ops->detections || !l->ops->max_detections) continue;
        const float *out = ecn_net_layer_output(net, i);
        if (!out) {
            ecn_detections_free(d, n);
            return ecn_fail(err, "layer %d ([%s], cfg line %d): output not available: run a "
                            "forward pass first", i, l->ops->name, l->line);
        }
        int got = l->ops->detections(l, out, opts, net->input, d + n, (int)cap - n);
        if (got < 0) {
            ecn_detections_free(d, n);
            return ecn_fail(err, "layer %d ([%s]): out of memory decoding detections", i,
                            l->ops->name);
        }
        n += got;
    }

    int kept = 0;
    if (opts->nms > 0) {
        kept = ecn_nms_sort(d, n, opts->nms);
    } else {
        for (int i = 0; i < n; i++) { /* keep the order; the empty ones go last */
            if (d[i].objectness == 0) continue;
            ecn_detection t = d[i];
            d[i] = d[kept];
            d[kept++] = t;
        }
    }
    for (int i = kept; i < n; i++) {
        free(d[i].prob);
        d[i].prob = NULL;
    }
    *dets = d;
    *count = kept;
    return 0;
}

void ecn_detections_free(ecn_detection *dets, int count)
{
    if (!dets) return;
    for (int i = 0; i < count; i++) free(dets[i].prob);
    free(dets);
}

/* ---- drawing -------------------------------------------------------- */

void ecn_class_color(int k, float rgb[3])
{
    /* Hues spaced by the golden ratio: neighbouring classes look different. */
    float h = (float)fmod(k * 0.6180339887, 1.0) * 6;
    int sector = (int)h;
    float f = h - sector, q = 1 - f;
    float r, g, b;
    switch (sector) {
    case 0: r = 1, g = f, b = 0; break;
    case 1: r = q, g = 1, b = 0; break;
    case 2: r = 0, g = 1, b = f; break;
    case 3: r = 0, g = q, b = 1; break;
    case 4: r = f, g = 0, b = 1; break;
    default: r = 1, g = 0, b = q; break;
    }
    rgb[0] = r, rgb[1] = g, rgb[2] = b;
}

static void put_pixel(ecn_image *im, int x, int y, const float rgb[3])
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    size_t plane = (size_t)im->w * im->h, at = (size_t)y * im->w + x;
    if (im->c >= 3)
        for (int k = 0; k < 3; k++) im->data[k * plane + at] = rgb[k];
    else
        im->data[at] = .299f * rgb[0] + .587f * rgb[1] + .114f * rgb[2];
}

/* Fill [x0, x1) x [y0, y1), clipped to the image. */
static void fill_rect(ecn_image *im, int x0, int y0, int x1, int y1, const float rgb[3])
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < im->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < im->w; x++) put_pixel(im, x, y, rgb);
}

/* Write `text` with its top-left corner at (x, y), each font unit s pixels. */
static void draw_text(ecn_image *im, int x, int y, int s, char *text, const float rgb[3])
{
    size_t cap = strlen(text) * 300 + 64; /* stb_easy_font: ~270 bytes a character */
    char *buf = malloc(cap);
    if (!buf) return;
    int quads = stb_easy_font_print(0, 0, text, NULL, buf, (int)(cap > INT_MAX ? INT_MAX : cap));
    for (int q = 0; q < quads; q++) {
        /* Four vertices of 16 bytes (x, y, z floats and a colour); the
         * quads are axis-aligned, vertex 0 and 2 are opposite corners. */
        float v0[2], v2[2];
        memcpy(v0, buf + (size_t)q * 64, sizeof v0);
        memcpy(v2, buf + (size_t)q * 64 + 32, sizeof v2);
        int x0 = (int)lroundf(fminf(v0[0], v2[0]) * s), x1 = (int)lroundf(fmaxf(v0[0], v2[0]) * s);
        int y0 = (int)lroundf(fminf(v0[1], v2[1]) * s), y1 = (int)lroundf(fmaxf(v0[1], v2[1]) * s);
        fill_rect(im, x + x0, y + y0, x + x1, y + y1, rgb);
    }
    free(buf);
}

int ecn_draw_detections(ecn_image *im, const ecn_detection *d, int n, float thresh,
                        const char *const *names, int n_names)
{
    if (!im || !im->data || im->w <= 0 || im->h <= 0) return 0;
    int drawn = 0;
    /* Text scale: about 3% of the image height, like Darknet's labels. */
    int s = (int)(im->h * .03f / 7 + .5f);
    if (s < 1) s = 1;
    for (int i = 0; i < n; i++) {
        char label[256] = "";
        size_t len = 0;
        int first = -1;
        for (int k = 0; k < d[i].classes; k++) {
            if (!(d[i].prob[k] > thresh)) continue;
            if (first < 0) first = k;
            char name[64];
            if (names && k < n_names && names[k]) snprintf(name, sizeof name, "%s", names[k]);
            else snprintf(name, sizeof name, "%d", k);
            int w = snprintf(label + len, sizeof label - len, "%s%s", len ? ", " : "", name);
            if (w > 0) len += (size_t)w;
            if (len >= sizeof label - 1) {
                len = sizeof label - 1;
                break;
            }
        }
        if (first < 0) continue;

        float rgb[3];
        ecn_class_color(first, rgb);
        ecn_box b = d[i].box;
        int left = (int)((b.x - b.w / 2) * im->w), right = (int)((b.x + b.w / 2) * im->w);
        int top = (int)((b.y - b.h / 2) * im->h), bot = (int)((b.y + b.h / 2) * im->h);
        if (left < 0) left = 0;
        if (top < 0) top = 0;
        if (right > im->w - 1) right = im->w - 1;
        if (bot > im->h - 1) bot = im->h - 1;
        if (right < left || bot < top) continue;

        for (int t = 0; t < 3; t++) { /* three nested 1-pixel outlines, inwards */
            fill_rect(im, left + t, top + t, right - t + 1, top + t + 1, rgb);
            fill_rect(im, left + t, bot - t, right - t + 1, bot - t + 1, rgb);
            fill_rect(im, left + t, top + t, left + t + 1, bot - t + 1, rgb);
            fill_rect(im, right - t, top + t, right - t + 1, bot - t + 1, rgb);
        }

        /* Label bar above the box (inside it when there is no room above). */
        int text_w = stb_easy_font_width(label) * s, bar_h = 10 * s;
        int bar_top = top - bar_h >= 0 ? top - bar_h : top;
        fill_rect(im, left, bar_top, left + text_w + 2 * s, bar_top + bar_h, rgb);
        float lum = .299f * rgb[0] + .587f * rgb[1] + .114f * rgb[2];
        float ink[3] = {lum > .5f ? 0.f : 1.f, lum > .5f ? 0.f : 1.f, lum > .5f ? 0.f : 1.f};
        draw_text(im, left + s, bar_top, s, label, ink);
        drawn++;
    }
    return drawn;
}

/* ---- training truth --------------------------------------------------- */

int ecn_truth_box(const float *tr, ecn_box *bx)
{
    if (tr[2] == 0) return 0;
    for (int k = 0; k < 4; k++)
        if (!isfinite(tr[k])) return -1;
    if (!(tr[2] > 0 && tr[3] > 0)) return -1;
    bx->x = tr[0];
    bx->y = tr[1];
    bx->w = tr[2];
    bx->h = tr[3];
    return 1;
}

int ecn_truth_cell(float v, int n)
{
    float f = v * n;
    if (!(f >= 0)) return 0;
    if (f >= n) return n - 1;
    return (int)f;
}

int ecn_truth_class(float c, int classes)
{
    return c > -1 && c < classes ? (int)c : -1;
}
