/* image.c - loading, resizing, letterboxing and saving images.
 *
 * Images are float32, CHW (one plane per channel), values byte/255.  The
 * resize and letterbox reproduce Darknet's resize_image and letterbox_image
 * float operation for float operation, so a network sees exactly the input
 * Darknet would give it:
 *
 * resize (bilinear, two passes): first along rows into a w x im.h image,
 * then along columns into w x h.  With w_scale = (im.w-1)/(w-1):
 *
 *     part(c, r) = im(im.w-1, r)                        if c == w-1 or im.w == 1
 *                = (1-dx) im(ix, r) + dx im(ix+1, r)    otherwise,
 *                  sx = c*w_scale, ix = (int)sx, dx = sx - ix
 *
 * and with h_scale = (im.h-1)/(h-1), sy = r*h_scale, iy = (int)sy, dy = sy-iy:
 *
 *     out(c, r) = (1-dy) part(c, iy)      then, unless r == h-1 or im.h == 1,
 *     out(c, r) += dy part(c, iy+1)
 *
 * (the last row keeps only the (1-dy) term: Darknet's quirk, kept).
 *
 * letterbox: scale the image to fit w x h keeping its aspect ratio (the
 * size rule is in ecn_letterbox_size, src/detect/detections.h), and centre
 * it on a w x h canvas of grey 0.5 at ((w-new_w)/2, (h-new_h)/2).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "error.h"

/* The float results must be Darknet's, so no fused multiply-add: GCC does
 * not contract in ISO C mode (-std=c11); clang must be told. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static int image_alloc(int w, int h, int c, ecn_image *out, ecn_err *err)
{
    memset(out, 0, sizeof *out);
    if (w <= 0 || h <= 0 || c <= 0)
        return ecn_fail(err, "bad image size %d x %d x %d: expected positive sizes", w, h, c);
    out->data = ecn_calloc((size_t)w * h * c, sizeof *out->data, err);
    if (!out->data) return -1;
    out->w = w;
    out->h = h;
    out->c = c;
    return 0;
}

int ecn_image_load(const char *path, int channels, ecn_image *out, ecn_err *err)
{
    memset(out, 0, sizeof *out);
    if (channels < 0 || channels > 4)
        return ecn_fail(err, "%s: asked for %d channels: expected 0 (as stored) to 4", path,
                        channels);
    int w, h, c;
    unsigned char *pix = stbi_load(path, &w, &h, &c, channels);
    if (!pix) return ecn_fail(err, "%s: cannot load image: %s", path, stbi_failure_reason());
    if (channels) c = channels;
    if (image_alloc(w, h, c, out, err)) {
        stbi_image_free(pix);
        return ecn_fail_prefix(err, "%s", path);
    }
    /* stb gives interleaved rows (HWC); we want planes (CHW).  The division
     * is done in double and rounded once, as Darknet does. */
    size_t plane = (size_t)w * h;
    for (int k = 0; k < c; k++)
        for (size_t i = 0; i < plane; i++)
            out->data[k * plane + i] = (float)(pix[i * c + k] / 255.);
    stbi_image_free(pix);
    return 0;
}

void ecn_image_free(ecn_image *im)
{
    if (!im) return;
    free(im->data);
    memset(im, 0, sizeof *im);
}

int ecn_image_resize(const ecn_image *im, int w, int h, ecn_image *out, ecn_err *err)
{
    memset(out, 0, sizeof *out);
    if (!im->data || im->w <= 0 || im->h <= 0 || im->c <= 0)
        return ecn_fail(err, "resize: empty source image");
    if (w <= 0 || h <= 0) return ecn_fail(err, "resize to %d x %d: expected positive sizes", w, h);
    ecn_image part;
    if (image_alloc(w, im->h, im->c, &part, err)) return -1;
    if (image_alloc(w, h, im->c, out, err)) {
        ecn_image_free(&part);
        return -1;
    }
    /* With w == 1 (or h == 1) Darknet divides by zero; every column is then
     * "the last one" and every row the first, which is what we do. */
    float w_scale = w > 1 ? (float)(im->w - 1) / (w - 1) : 0;
    float h_scale = h > 1 ? (float)(im->h - 1) / (h - 1) : 0;
    const size_t src_plane = (size_t)im->w * im->h, part_plane = (size_t)w * im->h;
    const size_t out_plane = (size_t)w * h;

    for (int k = 0; k < im->c; k++) {
        for (int r = 0; r < im->h; r++) {
            const float *src = im->data + k * src_plane + (size_t)r * im->w;
            float *dst = part.data + k * part_plane + (size_t)r * w;
            for (int c = 0; c < w; c++) {
                float val;
                if (c == w - 1 || im->w == 1) {
                    val = src[im->w - 1];
                } else {
                    float sx = c * w_scale;
                    int ix = (int)sx;
                    float dx = sx - ix;
                    int ix1 = ix + 1 < im->w ? ix + 1 : im->w - 1;
                    val = (1 - dx) * src[ix] + dx * src[ix1];
                }
                dst[c] = val;
            }
        }
    }
    for (int k = 0; k < im->c; k++) {
        for (int r = 0; r < h; r++) {
            float sy = r * h_scale;
            int iy = (int)sy;
            float dy = sy - iy;
            float *dst = out->data + k * out_plane + (size_t)r * w;
            const float *row0 = part.data + k * part_plane + (size_t)iy * w;
            for (int c = 0; c < w; c++) dst[c] = (1 - dy) * row0[c];
            if (r == h - 1 || im->h == 1) continue;
            const float *row1 = iy + 1 < im->h ? row0 + w : row0;
            for (int c = 0; c < w; c++) dst[c] += dy * row1[c];
        }
    }
    ecn_image_free(&part);
    return 0;
}

int ecn_image_letterbox(const ecn_image *im, int w, int h, ecn_image *out, ecn_err *err)
{
    memset(out, 0, sizeof *out);
    if (!im->data || im->w <= 0 || im->h <= 0 || im->c <= 0)
        return ecn_fail(err, "letterbox: empty source image");
    if (w <= 0 || h <= 0)
        return ecn_fail(err, "letterbox to %d x %d: expected positive sizes", w, h);
    /* Darknet's size rule, as in ecn_letterbox_size (src/detect/detections.c). */
    int new_w, new_h;
    if ((float)w / im->w < (float)h / im->h) {
        new_w = w;
        new_h = (int)((long long)im->h * w / im->w);
    } else {
        new_h = h;
        new_w = (int)((long long)im->w * h / im->h);
    }
    if (new_w < 1) new_w = 1;
    if (new_h < 1) new_h = 1;

    ecn_image sized;
    if (ecn_image_resize(im, new_w, new_h, &sized, err)) return -1;
    if (image_alloc(w, h, im->c, out, err)) {
        ecn_image_free(&sized);
        return -1;
    }
    size_t n = (size_t)w * h * im->c;
    for (size_t i = 0; i < n; i++) out->data[i] = .5f;
    int dx = (w - new_w) / 2, dy = (h - new_h) / 2;
    for (int k = 0; k < im->c; k++)
        for (int y = 0; y < new_h; y++) {
            if (dy + y < 0 || dy + y >= h) continue;
            for (int x = 0; x < new_w; x++) {
                if (dx + x < 0 || dx + x >= w) continue;
                out->data[((size_t)k * h + dy + y) * w + dx + x] =
                    sized.data[((size_t)k * new_h + y) * new_w + x];
            }
        }
    ecn_image_free(&sized);
    return 0;
}

int ecn_image_save_png(const ecn_image *im, const char *path, ecn_err *err)
{
    if (!im->data || im->w <= 0 || im->h <= 0 || im->c < 1 || im->c > 4)
        return ecn_fail(err, "%s: cannot save a %d x %d x %d image as PNG (1 to 4 channels)",
                        path, im->w, im->h, im->c);
    if ((size_t)im->w * im->c > INT_MAX)
        return ecn_fail(err, "%s: image too wide for PNG", path);
    size_t plane = (size_t)im->w * im->h;
    unsigned char *pix = ecn_calloc(plane * im->c, 1, err);
    if (!pix) return -1;
    for (int k = 0; k < im->c; k++)
        for (size_t i = 0; i < plane; i++) {
            float v = im->data[k * plane + i] * 255.f;
            v = v > 0 ? v : 0; /* also maps NaN to 0 */
            v = v < 255 ? v : 255;
            pix[i * im->c + k] = (unsigned char)(v + .5f);
        }
    int ok = stbi_write_png(path, im->w, im->h, im->c, pix, im->w * im->c);
    free(pix);
    return ok ? 0 : ecn_fail(err, "%s: cannot write PNG", path);
}
