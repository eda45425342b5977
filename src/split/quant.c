/* quant.c - feature-map quantization, bit packing and IEEE half by hand.
 *
 * See quant.h for the maths and the exact meaning of every mode.  Arithmetic
 * on values is done in double so that the error bound |x - x'| <= step / 2
 * holds up to the final rounding to float, even for ranges near FLT_MAX.
 */
#include "quant.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

/* ---- helpers ------------------------------------------------------------ */

static int affine_bits(int bits) { return bits >= 1 && bits <= 8; }
static int valid_bits(int bits) { return affine_bits(bits) || bits == 16 || bits == 32; }

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Elements of a shape, or -1 for a negative dimension / overflow. */
static int shape_elems(ecn_shape s, size_t *n, ecn_err *err)
{
    if (s.c < 0 || s.h < 0 || s.w < 0)
        return ecn_fail(err, "quantize: negative shape %d x %d x %d", s.c, s.h, s.w);
    size_t hw = (size_t)s.h * (size_t)s.w; /* ints: cannot overflow 64-bit size_t */
    if (s.c && hw > SIZE_MAX / 4 / (size_t)s.c)
        return ecn_fail(err, "quantize: shape %d x %d x %d is too large", s.c, s.h, s.w);
    *n = hw * (size_t)s.c;
    return 0;
}

/* Number of ranges q needs for shape s. */
static int range_count(const ecn_quant *q, ecn_shape s) { return q->mode == ECN_QUANT_CHANNEL ? s.c : 1; }

/* ---- set-up --------------------------------------------------------------- */

int ecn_quant_init(ecn_quant *q, int bits, ecn_quant_mode mode, ecn_range_mode range, float percentile,
                   ecn_err *err)
{
    memset(q, 0, sizeof *q);
    if (!valid_bits(bits)) return ecn_fail(err, "quantize: bits must be 1..8, 16 or 32, not %d", bits);
    if (mode != ECN_QUANT_TENSOR && mode != ECN_QUANT_CHANNEL)
        return ecn_fail(err, "quantize: unknown mode %d", (int)mode);
    if (range != ECN_RANGE_MINMAX && range != ECN_RANGE_PERCENTILE)
        return ecn_fail(err, "quantize: unknown range mode %d", (int)range);
    if (range == ECN_RANGE_PERCENTILE && !(percentile > 50.0f && percentile <= 100.0f))
        return ecn_fail(err, "quantize: percentile must be in (50, 100], not %g", (double)percentile);
    q->bits = bits;
    q->mode = mode;
    q->range = range;
    q->percentile = range == ECN_RANGE_PERCENTILE ? percentile : 100.0f;
    return 0;
}

void ecn_quant_free(ecn_quant *q)
{
    if (!q) return;
    free(q->lo);
    free(q->hi);
    q->lo = q->hi = NULL;
    q->channels = 0;
}

int ecn_quant_set_channels(ecn_quant *q, int channels, ecn_err *err)
{
    if (channels < 0) return ecn_fail(err, "quantize: negative channel count %d", channels);
    if (!affine_bits(q->bits) && channels != 0)
        return ecn_fail(err, "quantize: %d-bit symbols carry no ranges", q->bits);
    float *lo = ecn_calloc((size_t)channels, sizeof *lo, err);
    float *hi = lo ? ecn_calloc((size_t)channels, sizeof *hi, err) : NULL;
    if (!hi) {
        free(lo);
        return -1;
    }
    free(q->lo);
    free(q->hi);
    q->lo = lo, q->hi = hi, q->channels = channels;
    return 0;
}

/* ---- range fitting -------------------------------------------------------- */

/* k-th smallest (0-based) of a[0..n-1], n >= 1, reordering a.  Quickselect
 * with Hoare partitioning (duplicates split evenly, so a ReLU map full of
 * zeros stays linear) and a pseudo-random pivot (no bad inputs by design). */
static float select_kth(float *a, ptrdiff_t n, ptrdiff_t k, uint64_t *rng)
{
    ptrdiff_t lo = 0, hi = n - 1;
    while (lo < hi) {
        *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
        float pivot = a[lo + (ptrdiff_t)(*rng % (uint64_t)(hi - lo + 1))];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j], a[j] = t;
                i++, j--;
            }
        }
        /* a[lo..j] <= pivot <= a[i..hi]; anything between equals pivot. */
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

/* Range of one group of values (a channel or the tensor). */
static void fit_group(const ecn_quant *q, const float *x, size_t n, float *scratch, uint64_t *rng, float *lo,
                      float *hi)
{
    if (q->range == ECN_RANGE_MINMAX || q->percentile >= 100.0f) {
        float mn = INFINITY, mx = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            if (!isfinite(v)) continue;
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        if (mn > mx) mn = mx = 0.0f; /* no finite value */
        *lo = mn, *hi = mx;
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) scratch[m++] = x[i];
    if (m == 0) {
        *lo = *hi = 0.0f;
        return;
    }
    double r = ceil((double)q->percentile / 100.0 * (double)m);
    size_t k = r < 1.0 ? 1 : r > (double)m ? m : (size_t)r;
    *hi = select_kth(scratch, (ptrdiff_t)m, (ptrdiff_t)(k - 1), rng);
    /* k > m/2, so index m-k lies left of k-1, where the partition put the
     * values <= hi: select there. */
    *lo = (m - k < k - 1) ? select_kth(scratch, (ptrdiff_t)(k - 1), (ptrdiff_t)(m - k), rng) : *hi;
}

int ecn_quant_fit(ecn_quant *q, const float *x, ecn_shape s, ecn_err *err)
{
    size_t n = 0;
    if (!valid_bits(q->bits)) return ecn_fail(err, "quantize: bits %d (ecn_quant_init first)", q->bits);
    if (shape_elems(s, &n, err)) return -1;
    if (!affine_bits(q->bits)) return 0;
    if (n && !x) return ecn_fail(err, "quantize: no input");
    int groups = range_count(q, s);
    size_t group = groups ? n / (size_t)groups : 0;
    if (q->channels != groups || !q->lo || !q->hi)
        if (ecn_quant_set_channels(q, groups, err)) return -1;
    float *scratch = NULL;
    if (q->range == ECN_RANGE_PERCENTILE && q->percentile < 100.0f) {
        scratch = ecn_calloc(group, sizeof *scratch, err);
        if (!scratch) return -1;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int g = 0; g < groups; g++) fit_group(q, x + (size_t)g * group, group, scratch, &rng, &q->lo[g], &q->hi[g]);
    free(scratch);
    return 0;
}

/* ---- coding --------------------------------------------------------------- */

int ecn_quant_check(const ecn_quant *q, ecn_shape s, ecn_err *err)
{
    size_t n = 0;
    if (!q) return ecn_fail(err, "quantize: no parameters");
    if (!valid_bits(q->bits)) return ecn_fail(err, "quantize: bits must be 1..8, 16 or 32, not %d", q->bits);
    if (q->mode != ECN_QUANT_TENSOR && q->mode != ECN_QUANT_CHANNEL)
        return ecn_fail(err, "quantize: unknown mode %d", (int)q->mode);
    if (shape_elems(s, &n, err)) return -1;
    if (!affine_bits(q->bits)) return 0;
    int groups = range_count(q, s);
    if (q->channels != groups)
        return ecn_fail(err, "quantize: %d ranges for a tensor that needs %d", q->channels, groups);
    if (groups && (!q->lo || !q->hi)) return ecn_fail(err, "quantize: ranges not allocated");
    for (int g = 0; g < groups; g++)
        if (!isfinite(q->lo[g]) || !isfinite(q->hi[g]) || !(q->lo[g] <= q->hi[g]))
            return ecn_fail(err, "quantize: range %d is [%g, %g]: need finite lo <= hi", g, (double)q->lo[g],
                            (double)q->hi[g]);
    return 0;
}

size_t ecn_quant_symbol_bytes(const ecn_quant *q, ecn_shape s)
{
    size_t n = 0;
    if (!valid_bits(q->bits) || shape_elems(s, &n, NULL)) return SIZE_MAX;
    return q->bits <= 8 ? n : n * (size_t)(q->bits / 8);
}

int ecn_quant_symbol_bits(const ecn_quant *q) { return affine_bits(q->bits) ? q->bits : 8; }

static void encode_group(const float *x, size_t n, float lo, float hi, int bits, uint8_t *sym)
{
    const double top = (double)((1u << bits) - 1);
    const double dlo = lo;
    const double range = (double)hi - dlo;
    const double inv = range > 0 ? top / range : 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i] == x[i] ? (double)x[i] : 0.0; /* NaN codes as 0.0 */
        v = (v - dlo) * inv;                          /* inf * 0 is NaN: caught below */
        if (!(v > 0.0)) v = 0.0;
        if (v > top) v = top;
        sym[i] = (uint8_t)(v + 0.5);
    }
}

int ecn_quant_encode(const ecn_quant *q, const float *x, ecn_shape s, uint8_t *sym, ecn_err *err)
{
    if (ecn_quant_check(q, s, err)) return -1;
    size_t n = ecn_shape_size(s);
    if (n && (!x || !sym)) return ecn_fail(err, "quantize: no input or output buffer");
    if (q->bits == 32) {
        for (size_t i = 0; i < n; i++) put_le32(sym + 4 * i, float_bits(x[i]));
        return 0;
    }
    if (q->bits == 16) {
        for (size_t i = 0; i < n; i++) {
            uint16_t h = ecn_half_from_float(x[i]);
            sym[2 * i] = (uint8_t)h, sym[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return 0;
    }
    int groups = range_count(q, s);
    size_t group = groups ? n / (size_t)groups : 0;
    for (int g = 0; g < groups; g++)
        encode_group(x + (size_t)g * group, group, q->lo[g], q->hi[g], q->bits, sym + (size_t)g * group);
    return 0;
}

int ecn_quantize(const float *x, ecn_shape s, ecn_quant *q, uint8_t *sym, ecn_err *err)
{
    if (ecn_quant_fit(q, x, s, err)) return -1;
    return ecn_quant_encode(q, x, s, sym, err);
}

int ecn_dequantize(const uint8_t *sym, ecn_shape s, const ecn_quant *q, float *x, ecn_err *err)
{
    if (ecn_quant_check(q, s, err)) return -1;
    size_t n = ecn_shape_size(s);
    if (n && (!x || !sym)) return ecn_fail(err, "dequantize: no input or output buffer");
    if (q->bits == 32) {
        for (size_t i = 0; i < n; i++) x[i] = bits_float(get_le32(sym + 4 * i));
        return 0;
    }
    if (q->bits == 16) {
        for (size_t i = 0; i < n; i++) x[i] = ecn_float_from_half((uint16_t)(sym[2 * i] | sym[2 * i + 1] << 8));
        return 0;
    }
    unsigned bad = 0, mask = ~((1u << q->bits) - 1) & 0xffu;
    for (size_t i = 0; i < n; i++) bad |= sym[i] & mask;
    if (bad) return ecn_fail(err, "dequantize: a symbol does not fit in %d bits", q->bits);
    int groups = range_count(q, s);
    size_t group = groups ? n / (size_t)groups : 0;
    const double top = (double)((1u << q->bits) - 1);
    for (int g = 0; g < groups; g++) {
        const double lo = q->lo[g], step = ((double)q->hi[g] - lo) / top;
        const uint8_t *in = sym + (size_t)g * group;
        float *out = x + (size_t)g * group;
        for (size_t i = 0; i < group; i++) out[i] = (float)(lo + (double)in[i] * step);
    }
    return 0;
}

/* ---- parameters as bytes -------------------------------------------------- */

#define PARAMS_HEAD 12

size_t ecn_quant_params_size(const ecn_quant *q)
{
    return PARAMS_HEAD + (size_t)(q->channels > 0 ? q->channels : 0) * 8;
}

int ecn_quant_params_write(const ecn_quant *q, uint8_t *out, size_t cap, size_t *len, ecn_err *err)
{
    if (!valid_bits(q->bits)) return ecn_fail(err, "quantize: bits %d", q->bits);
    if (q->channels < 0 || (q->channels && (!q->lo || !q->hi)))
        return ecn_fail(err, "quantize: bad channel count %d", q->channels);
    size_t need = ecn_quant_params_size(q);
    if (cap < need) return ecn_fail(err, "quantize: parameters need %zu bytes, buffer has %zu", need, cap);
    out[0] = (uint8_t)q->bits, out[1] = (uint8_t)q->mode, out[2] = (uint8_t)q->range, out[3] = 0;
    put_le32(out + 4, float_bits(q->percentile));
    put_le32(out + 8, (uint32_t)q->channels);
    for (int g = 0; g < q->channels; g++) {
        put_le32(out + PARAMS_HEAD + 8 * (size_t)g, float_bits(q->lo[g]));
        put_le32(out + PARAMS_HEAD + 8 * (size_t)g + 4, float_bits(q->hi[g]));
    }
    *len = need;
    return 0;
}

int ecn_quant_params_read(ecn_quant *q, const uint8_t *in, size_t len, ecn_err *err)
{
    if (len < PARAMS_HEAD) return ecn_fail(err, "quantize parameters: %zu bytes, need at least %d", len, PARAMS_HEAD);
    int bits = in[0];
    float pct = bits_float(get_le32(in + 4));
    uint32_t channels = get_le32(in + 8);
    if (!valid_bits(bits)) return ecn_fail(err, "quantize parameters: bits %d", bits);
    if (in[1] > 1 || in[2] > 1 || in[3] != 0)
        return ecn_fail(err, "quantize parameters: mode %d, range %d, reserved %d", in[1], in[2], in[3]);
    if (!(pct > 50.0f && pct <= 100.0f)) return ecn_fail(err, "quantize parameters: percentile %g", (double)pct);
    if (!affine_bits(bits) && channels)
        return ecn_fail(err, "quantize parameters: %d-bit symbols with %u ranges", bits, channels);
    if (affine_bits(bits) && (channels == 0 || channels > (uint32_t)INT32_MAX / 8))
        return ecn_fail(err, "quantize parameters: %u ranges", channels);
    if ((len - PARAMS_HEAD) / 8 != channels || (len - PARAMS_HEAD) % 8)
        return ecn_fail(err, "quantize parameters: %zu bytes for %u ranges", len, channels);
    ecn_quant t;
    if (ecn_quant_init(&t, bits, (ecn_quant_mode)in[1], (ecn_range_mode)in[2], pct, err)) return -1;
    t.percentile = pct;
    if (ecn_quant_set_channels(&t, (int)channels, err)) return -1;
    for (uint32_t g = 0; g < channels; g++) {
        t.lo[g] = bits_float(get_le32(in + PARAMS_HEAD + 8 * (size_t)g));
        t.hi[g] = bits_float(get_le32(in + PARAMS_HEAD + 8 * (size_t)g + 4));
        if (!isfinite(t.lo[g]) || !isfinite(t.hi[g]) || !(t.lo[g] <= t.hi[g])) {
            ecn_fail(err, "quantize parameters: range %u is [%g, %g]", g, (double)t.lo[g], (double)t.hi[g]);
            ecn_quant_free(&t);
            return -1;
        }
    }
    ecn_quant_free(q);
    *q = t;
    return 0;
}

/* ---- bit packing ----------------------------------------------------------- */

size_t ecn_pack_size(size_t n, int bits)
{
    if (bits < 1 || bits > 8) return 0;
    return n / 8 * (size_t)bits + ((n % 8) * (size_t)bits + 7) / 8;
}

size_t ecn_pack(const uint8_t *sym, size_t n, int bits, uint8_t *out)
{
    if (bits < 1 || bits > 8) return 0;
    if (bits == 8) {
        if (n) memcpy(out, sym, n);
        return n;
    }
    const unsigned mask = (1u << bits) - 1;
    size_t o = 0;
    uint32_t acc = 0;
    int cnt = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= (sym[i] & mask) << cnt;
        cnt += bits;
        if (cnt >= 8) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            cnt -= 8;
        }
    }
    if (cnt > 0) out[o++] = (uint8_t)acc;
    return o;
}

int ecn_unpack(const uint8_t *in, size_t in_len, size_t n, int bits, uint8_t *sym, ecn_err *err)
{
    if (bits < 1 || bits > 8) return ecn_fail(err, "unpack: bits must be 1..8, not %d", bits);
    if (n > SIZE_MAX / 8) return ecn_fail(err, "unpack: %zu symbols is too many", n);
    size_t need = ecn_pack_size(n, bits);
    if (in_len != need)
        return ecn_fail(err, "unpack: %zu bytes for %zu symbols of %d bits, expected %zu", in_len, n, bits, need);
    if (bits == 8) {
        if (n) memcpy(sym, in, n);
        return 0;
    }
    const unsigned mask = (1u << bits) - 1;
    size_t p = 0;
    uint32_t acc = 0;
    int cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (cnt < bits) {
            acc |= (uint32_t)in[p++] << cnt;
            cnt += 8;
        }
        sym[i] = (uint8_t)(acc & mask);
        acc >>= bits;
        cnt -= bits;
    }
    if (acc != 0) return ecn_fail(err, "unpack: padding bits of the last byte are not zero");
    return 0;
}

/* ---- IEEE 754 binary16 ----------------------------------------------------- *
 * half: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits.
 * float: 1 sign bit, 8 exponent bits (bias 127), 23 fraction bits. */

uint16_t ecn_half_from_float(float f)
{
    uint32_t x = float_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {                            /* Inf or NaN */
        if (ax == 0x7f800000u) return sign | 0x7c00u;
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* quiet NaN, top payload bits */
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00u;     /* >= 65520 rounds to Inf */
    if (ax >= 0x38800000u) {                           /* normal half: >= 2^-14 */
        uint32_t h = (ax - 0x38000000u) >> 13;         /* rebias exponent 127 -> 15 */
        uint32_t rem = ax & 0x1fffu;                   /* 13 dropped fraction bits */
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* carry may bump the exponent: fine */
        return (uint16_t)(sign | h);
    }
    /* Subnormal half (units of 2^-24) or zero.  value = m * 2^(e - 150). */
    uint32_t e = ax >> 23;
    if (e < 102) return sign;                          /* < 2^-25: rounds to zero */
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;                          /* 14..24 */
    uint32_t h = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1u))) h++; /* may become 0x400: the smallest normal */
    return (uint16_t)(sign | h);
}

float ecn_float_from_half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 31) return bits_float(sign | 0x7f800000u | (m << 13)); /* Inf, NaN */
    if (e == 0) {
        if (m == 0) return bits_float(sign);                        /* +-0 */
        /* subnormal: m * 2^-24; normalise so that bit 10 is the implicit one */
        uint32_t fe = 113;                                          /* float exponent of 2^-14 */
        while (!(m & 0x400u)) {
            m <<= 1;
            fe--;
        }
        return bits_float(sign | fe << 23 | (m & 0x3ffu) << 13);
    }
    return bits_float(sign | (e + 112) << 23 | m << 13);
}
