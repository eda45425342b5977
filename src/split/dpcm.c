/* dpcm.c - differential pulse-code modulation of a quantised tensor.
 *
 * Each symbol s(c,y,x) of a C x H x W tensor (CHW order) is replaced by the
 * residual (s - p) mod 2^B, where the prediction p is an earlier symbol in
 * CHW order (the predictors are listed in codec.h).  Because p always comes
 * earlier, the decoder rebuilds the symbols front to back, in place:
 * s = (r + p) mod 2^B with p already rebuilt.  The encoder runs back to front
 * so that it can also work in place.
 *
 * The ECNet paper (Table II) found that neither DPCM between channels nor
 * within a channel lowers the entropy of its feature maps; it is here so that
 * the claim can be measured on other networks and split points.
 */
#include "codec.h"

#include "../core/error.h"

/* Index of the symbol that predicts symbol i = (c, y, x); 0 when there is
 * none (then p = 0). */
static int predictor(ecn_dpcm_mode m, size_t i, size_t c, size_t y, size_t x, size_t w, size_t plane, size_t *j)
{
    switch (m) {
    case ECN_DPCM_CHANNEL:
        if (c == 0) return 0;
        *j = i - plane;
        return 1;
    case ECN_DPCM_ROW:
        if (x > 0) *j = i - 1;
        else if (y > 0) *j = i - w;
        else return 0;
        return 1;
    case ECN_DPCM_COLUMN:
        if (y > 0) *j = i - w;
        else if (x > 0) *j = i - 1;
        else return 0;
        return 1;
    default: return 0;
    }
}

static int check(ecn_dpcm_mode m, ecn_shape s, int bits, size_t n, ecn_err *err)
{
    if (m != ECN_DPCM_CHANNEL && m != ECN_DPCM_ROW && m != ECN_DPCM_COLUMN && m != ECN_DPCM_NONE)
        return ecn_fail(err, "dpcm: unknown mode %d", (int)m);
    if (bits < 1 || bits > 8) return ecn_fail(err, "dpcm: bits must be 1..8, not %d", bits);
    if (s.c < 0 || s.h < 0 || s.w < 0) return ecn_fail(err, "dpcm: negative shape %d x %d x %d", s.c, s.h, s.w);
    size_t hw = (size_t)s.h * (size_t)s.w;
    if ((s.c && hw > SIZE_MAX / (size_t)s.c) || hw * (size_t)s.c != n)
        return ecn_fail(err, "dpcm: %zu symbols for a %d x %d x %d tensor", n, s.c, s.h, s.w);
    return 0;
}

int ecn_dpcm_forward(ecn_dpcm_mode m, ecn_shape s, int bits, const uint8_t *in, uint8_t *out, size_t n,
                     ecn_err *err)
{
    if (check(m, s, bits, n, err)) return -1;
    const unsigned mask = (1u << bits) - 1;
    const size_t w = (size_t)s.w, plane = (size_t)s.h * w;
    for (size_t c = (size_t)s.c; c-- > 0;)
        for (size_t y = (size_t)s.h; y-- > 0;)
            for (size_t x = w; x-- > 0;) {
                size_t i = c * plane + y * w + x, j;
                unsigned p = predictor(m, i, c, y, x, w, plane, &j) ? in[j] : 0;
                out[i] = (uint8_t)((in[i] - p) & mask);
            }
    return 0;
}

int ecn_dpcm_inverse(ecn_dpcm_mode m, ecn_shape s, int bits, uint8_t *sym, size_t n, ecn_err *err)
{
    if (check(m, s, bits, n, err)) return -1;
    const unsigned mask = (1u << bits) - 1;
    const size_t w = (size_t)s.w, plane = (size_t)s.h * w;
    for (size_t c = 0; c < (size_t)s.c; c++)
        for (size_t y = 0; y < (size_t)s.h; y++)
            for (size_t x = 0; x < w; x++) {
                size_t i = c * plane + y * w + x, j;
                unsigned p = predictor(m, i, c, y, x, w, plane, &j) ? sym[j] : 0;
                sym[i] = (uint8_t)((sym[i] + p) & mask);
            }
    return 0;
}
