/* detections.h - boxes, letterbox correction, NMS and drawing.
 *
 * Used by the detector heads (src/layers/yolo.c, region.c), by
 * ecn_net_detections (detections.c) and by the tools.  Boxes are
 * centre/size, relative to an image (0..1), as in ecnet.h.
 */
#ifndef ECN_DETECTIONS_H
#define ECN_DETECTIONS_H

#include "../ecnet.h"

/* Darknet's box arithmetic, float for float:
 *   overlap(x1,w1,x2,w2) = min(x1+w1/2, x2+w2/2) - max(x1-w1/2, x2-w2/2)
 *   intersection = overlap_x * overlap_y, or 0 when either is negative
 *   union        = a.w*a.h + b.w*b.h - intersection
 *   IoU          = intersection / union  (NaN for two empty boxes) */
float ecn_box_intersection(ecn_box a, ecn_box b);
float ecn_box_union(ecn_box a, ecn_box b);
float ecn_box_iou(ecn_box a, ecn_box b);

/* Size of an image_w x image_h image letterboxed into net_w x net_h, with
 * Darknet's rule (float comparison, integer division):
 *   net_w/image_w < net_h/image_h:  new_w = net_w, new_h = image_h*net_w/image_w
 *   otherwise:                      new_h = net_h, new_w = image_w*net_h/image_h
 * (never less than 1).  ecn_image_letterbox places the image with it. */
void ecn_letterbox_size(int image_w, int image_h, int net_w, int net_h, int *new_w, int *new_h);

/* Undo the letterbox on n boxes that are relative to the network input, so
 * that they become relative to the original image (Darknet's
 * correct_yolo_boxes / correct_region_boxes with relative=1):
 *   x = (x - (net_w-new_w)/2/net_w) / (new_w/net_w),  w *= net_w/new_w
 * and the same for y and h. */
void ecn_correct_letterbox(ecn_detection *d, int n, int image_w, int image_h, int net_w,
                           int net_h);

/* Darknet's do_nms_sort: detections with objectness 0 are swapped to the end
 * (in Darknet's order) and ignored; then for each class k the rest are
 * sorted by prob[k], highest first (a stable sort, as glibc's qsort is for
 * Darknet), and every box whose IoU with a stronger box of nonzero prob[k]
 * exceeds `nms` gets prob[k] = 0.  Returns the number of detections with
 * nonzero objectness, which are the first ones of d on return. */
int ecn_nms_sort(ecn_detection *d, int n, float nms);

/* Draw each detection that has a class with prob > thresh: a 3-pixel-thick
 * rectangle in a colour chosen by its first such class, and above it a
 * label "name, name" on a bar of the same colour.  names may be NULL (or
 * shorter than the class count): the label is then the class number.
 * Works on 1-channel (grey) and 3-or-more-channel (RGB) images.  Returns the
 * number of boxes drawn. */
int ecn_draw_detections(ecn_image *im, const ecn_detection *d, int n, float thresh,
                        const char *const *names, int n_names);

/* ---- training truth (Darknet's detection labels) ----
 * An image's truth is a list of boxes of 5 floats: x, y, w, h (relative
 * centre and size), class.  These read it for the [yolo] and [region] losses. */

/* Box of truth entry tr: 0 when the list has ended (w == 0), -1 when the box
 * is unusable (non-finite, or w or h not positive: skipped), 1 otherwise. */
int ecn_truth_box(const float *tr, ecn_box *bx);
/* Darknet's (int)(v * n), clamped into 0 .. n-1 (v is finite). */
int ecn_truth_cell(float v, int n);
/* Darknet's class truncation; -1 when the class is outside 0 .. classes-1. */
int ecn_truth_class(float c, int classes);

/* Colour of class k (RGB, 0..1), the same for every image. */
void ecn_class_color(int k, float rgb[3]);

#endif
