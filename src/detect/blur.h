/* blur.h - the Brenner focus measure of an image.
 *
 * Brenner's gradient: the grey value g = 0.299 R + 0.587 G + 0.114 B (or the
 * one channel of a grey image), and
 *
 *     F = (1 / N) sum over y, x of (g(x + 2, y) - g(x, y))^2
 *
 * over the N = (w - 2) h pixel pairs two columns apart (0 when w < 3).  A
 * sharp image has strong differences at that distance, a blurred one weak:
 * the larger F, the sharper.  The mean instead of the sum makes images of
 * different sizes comparable; for one size the ranking is the sum's.  The
 * cascade's "blur" baseline uploads the frames of lowest F first.
 */
#ifndef ECN_BLUR_H
#define ECN_BLUR_H

#include "../ecnet.h"
#include "../train/data.h"

double ecn_brenner(const ecn_image *im);

/* F of images 0 .. n-1 of a data set with image files into focus[0 .. n). */
int ecn_brenner_list(const ecn_dataset *ds, int n, double *focus, ecn_err *err);

#endif
