/* quant.h - quantization of a split-point feature map into B-bit symbols.
 *
 * The edge half of the network ends in a float tensor of C x H x W values
 * (CHW order).  Before it crosses the network it becomes a stream of symbols:
 *
 *   bits 1..8   affine codes.  For each range [lo, hi] (one for the whole
 *               tensor, or one per channel) and Q = 2^B - 1:
 *                   q  = round((x - lo) / (hi - lo) * Q), clamped to 0..Q
 *                   x' = lo + q * (hi - lo) / Q
 *               so inside the range |x - x'| <= step / 2 with step = (hi-lo)/Q
 *               (plus float rounding).  One symbol byte per value.
 *               B = 8, 6, 4, 2 are the widths the ECNet paper studies; any
 *               1..8 works.
 *   bits 16     IEEE 754 binary16 (half), converted by hand: round to nearest,
 *               ties to even; subnormals, infinities and NaN kept.  Two
 *               symbol bytes per value, little-endian.
 *   bits 32     the float32 bits unchanged, four bytes per value,
 *               little-endian (lossless).
 *
 * Ranges ("fitting", ecn_quant_fit) are computed from the tensor itself:
 *   ECN_RANGE_MINMAX      lo = min, hi = max of the finite values.
 *   ECN_RANGE_PERCENTILE  two-sided clipping at percentile p in (50, 100]:
 *                         with the n finite values sorted v[0] <= ... <=
 *                         v[n-1] and k = ceil(p / 100 * n) (nearest rank,
 *                         computed in double, clamped to 1..n):
 *                         hi = v[k-1] and lo = v[n-k].  p = 99.99 drops the
 *                         lowest and the highest 0.01% of the values; p = 100
 *                         is min-max.  A ReLU map with many zeros keeps lo = 0.
 * A range with no finite value is lo = hi = 0.
 *
 * Non-finite inputs never crash and have a fixed meaning:
 *   affine codes: ranges ignore NaN and +-Inf; NaN is coded as if it were
 *                 0.0 (then clamped into the range), +Inf as the top code Q,
 *                 -Inf as code 0.  A range with hi == lo codes everything as
 *                 0 and decodes it to lo.
 *   half:         NaN stays a (quiet) NaN, +-Inf stay +-Inf, values beyond
 *                 the half range become +-Inf.
 *   float:        bit-exact, NaN payloads included.
 *
 * Bit packing (ecn_pack): symbol i occupies bits i*B .. i*B+B-1 of the
 * packed stream, where bit k of the stream is bit (k mod 8) of byte k / 8:
 * least significant bit first.  The last byte is padded with zero bits.
 * For B = 2 the symbols 1, 2, 3, 0 pack into the byte 0x39 (00 11 10 01).
 */
#ifndef ECN_SPLIT_QUANT_H
#define ECN_SPLIT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "../ecnet.h"

typedef enum { ECN_QUANT_TENSOR = 0, ECN_QUANT_CHANNEL = 1 } ecn_quant_mode;
typedef enum { ECN_RANGE_MINMAX = 0, ECN_RANGE_PERCENTILE = 1 } ecn_range_mode;

typedef struct ecn_quant {
    int bits;              /* 1..8 affine codes; 16 half; 32 float passthrough */
    ecn_quant_mode mode;   /* one range for the tensor or one per channel */
    ecn_range_mode range;  /* how ecn_quant_fit chooses the ranges */
    float percentile;      /* ECN_RANGE_PERCENTILE: p in (50, 100], e.g. 99.99 */
    int channels;          /* number of (lo, hi) pairs: 1, or C per channel;
                              0 before fitting and always 0 for bits 16 / 32 */
    float *lo, *hi;        /* channels entries each, owned (ecn_quant_free) */
} ecn_quant;

/* Set up q (no ranges yet).  Checks bits, mode, range and percentile. */
int ecn_quant_init(ecn_quant *q, int bits, ecn_quant_mode mode, ecn_range_mode range,
                   float percentile, ecn_err *err);
void ecn_quant_free(ecn_quant *q);

/* Give q room for `channels` ranges (lo = hi = 0): for a receiver that reads
 * the ranges from elsewhere. */
int ecn_quant_set_channels(ecn_quant *q, int channels, ecn_err *err);

/* Compute the ranges from x (shape s), as described above.  Nothing to do
 * for bits 16 and 32. */
int ecn_quant_fit(ecn_quant *q, const float *x, ecn_shape s, ecn_err *err);

/* Code x with the ranges q already holds (ecn_quant_fit, or calibrated ones).
 * sym receives ecn_quant_symbol_bytes(q, s) bytes. */
int ecn_quant_encode(const ecn_quant *q, const float *x, ecn_shape s, uint8_t *sym, ecn_err *err);

/* ecn_quant_fit then ecn_quant_encode. */
int ecn_quantize(const float *x, ecn_shape s, ecn_quant *q, uint8_t *sym, ecn_err *err);

/* Symbols back to floats.  Fails (without touching the rest of x) when q does
 * not fit the shape (ecn_quant_check) or a symbol is >= 2^B. */
int ecn_dequantize(const uint8_t *sym, ecn_shape s, const ecn_quant *q, float *x, ecn_err *err);

/* Is q usable for a tensor of shape s?  Bits, mode, channel count (1, or
 * s.c per channel), finite lo <= hi.  For parameters that came off a wire. */
int ecn_quant_check(const ecn_quant *q, ecn_shape s, ecn_err *err);

/* Bytes of symbols for a tensor of shape s: n for bits <= 8, 2n, 4n.
 * SIZE_MAX when that overflows. */
size_t ecn_quant_symbol_bytes(const ecn_quant *q, ecn_shape s);
/* Width of each symbol byte as a codec sees it: bits for 1..8, 8 otherwise. */
int ecn_quant_symbol_bits(const ecn_quant *q);

/* Parameters as bytes (little-endian), for a wire format or a file:
 *   u8 bits, u8 mode, u8 range, u8 0, f32 percentile, u32 channels,
 *   then per channel f32 lo, f32 hi.
 * Reading checks everything (values, exact length, finite lo <= hi) and
 * replaces q's ranges. */
size_t ecn_quant_params_size(const ecn_quant *q);
int ecn_quant_params_write(const ecn_quant *q, uint8_t *out, size_t cap, size_t *len, ecn_err *err);
int ecn_quant_params_read(ecn_quant *q, const uint8_t *in, size_t len, ecn_err *err);

/* ---- bit packing (bits 1..8, LSB first) ------------------------------ */

/* Bytes that n symbols of `bits` bits pack into: ceil(n * bits / 8). */
size_t ecn_pack_size(size_t n, int bits);
/* Pack n symbols (only their low `bits` bits are used); returns bytes written. */
size_t ecn_pack(const uint8_t *sym, size_t n, int bits, uint8_t *out);
/* Unpack n symbols.  in_len must be exactly ecn_pack_size(n, bits) and the
 * padding bits zero; anything else is an error. */
int ecn_unpack(const uint8_t *in, size_t in_len, size_t n, int bits, uint8_t *sym, ecn_err *err);

/* ---- IEEE half ---------------------------------------------------------- */

uint16_t ecn_half_from_float(float f);
float ecn_float_from_half(uint16_t h);

#endif
