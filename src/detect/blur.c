/* blur.c - Brenner's focus measure (see blur.h): the mean squared difference
 * of grey values two columns apart.  Each row is converted to grey once,
 * then the differences are summed in double. */
#include "blur.h"

#include <stdlib.h>

#include "core/error.h"

/* Grey value of pixel i of a CHW image. */
static double grey_at(const ecn_image *im, size_t i)
{
    size_t plane = (size_t)im->w * im->h;
    if (im->c < 3) return im->data[i];
    return .299 * im->data[i] + .587 * im->data[plane + i] + .114 * im->data[2 * plane + i];
}

double ecn_brenner(const ecn_image *im)
{
    if (im->w < 3 || im->h < 1 || im->c < 1) return 0;
    double sum = 0;
    for (int y = 0; y < im->h; y++) {
        size_t row = (size_t)y * im->w;
        for (int x = 0; x + 2 < im->w; x++) {
            double d = grey_at(im, row + x + 2) - grey_at(im, row + x);
            sum += d * d;
        }
    }
    return sum / ((double)(im->w - 2) * im->h);
}

int ecn_brenner_list(const ecn_dataset *ds, int n, double *focus, ecn_err *err)
{
    if (!ds->paths) return ecn_fail(err, "the focus measure needs a list of image files");
    for (int i = 0; i < n && i < ds->n; i++) {
        ecn_image im;
        if (ecn_image_load(ds->paths[i], 0, &im, err)) return -1;
        focus[i] = ecn_brenner(&im);
        ecn_image_free(&im);
    }
    return 0;
}
