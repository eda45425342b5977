/* codec.h - lossless coding of the symbol stream that crosses the split.
 *
 * Input: n symbol bytes, each < 2^B (B = 1..8, from quant.h; 16- and 32-bit
 * tensors travel as bytes with B = 8).  Output: a payload of bytes.  The
 * payload holds no header: the wire format carries the codec, n, B, the DPCM
 * mode and a checksum.  Codecs:
 *
 *   raw      the symbols bit-packed, B bits each (ecn_pack: LSB first).
 *   zlib     a zlib stream (RFC 1950) of the symbol bytes, compress2 at
 *            `level` 1..9.
 *   huffman  canonical Huffman codes built from a prior table, length-limited
 *            to ECN_HUFF_MAX_LEN bits; codes written LSB first, the last byte
 *            padded with zero bits.  Decoded with a 2^ECN_HUFF_FAST_BITS-entry
 *            lookup table on the next bits (longer codes: canonical search).
 *   rans     static range ANS (rans.c; the payload bit by bit is in
 *            docs/wire.md): frequencies quantised to 2^ECN_RANS_SCALE_BITS
 *            from the prior, states in [2^13, 2^14) renormalised a bit at a
 *            time into one little-endian bit stream, symbol i coded by state
 *            i mod 4 (a single state under ECN_RANS_LANES_MIN symbols); each
 *            state ends (a decoder's view) holding its last symbol and 5
 *            bits of the symbols' sum.
 *
 * The prior table is the symbol histogram of training data, measured once
 * (on the stream the codec really sees: after DPCM if DPCM is on) and stored
 * with the model.  Every symbol gets a code even if its count is 0.  A prior
 * only changes the payload size, never correctness.
 *
 * DPCM (dpcm.c), optional, before the entropy coder.  The symbols are a
 * C x H x W tensor in CHW order; s(c,y,x) is predicted by p(c,y,x) and the
 * coder sees the residual (s - p) mod 2^B, so residuals stay B-bit:
 *   ECN_DPCM_CHANNEL  between channels: p = s(c-1,y,x); p = 0 for c = 0.
 *   ECN_DPCM_ROW      within a channel along each row: p = s(c,y,x-1); the
 *                     first column uses the value above, s(c,y-1,0); p = 0
 *                     at (c,0,0).
 *   ECN_DPCM_COLUMN   within a channel down each column: p = s(c,y-1,x); the
 *                     first row uses the value on the left, s(c,0,x-1);
 *                     p = 0 at (c,0,0).  (The paper's "DPCM in channel".)
 *
 * Decoders treat the payload as hostile: every read is bounds-checked, every
 * loop is bounded by n or by the payload length.  What each codec detects:
 *   raw      wrong length, non-zero padding.  Flipped bits inside: no.
 *   zlib     almost everything (zlib's Adler-32), wrong length, bytes after
 *            the stream, symbols >= 2^B.
 *   huffman  truncation, bytes after the last code, non-zero padding.  Every
 *            bit string decodes to some symbols (the code is complete), so a
 *            flipped bit usually gives wrong symbols without an error.
 *   rans     truncation, extra bytes, a missing start marker, and, through
 *            the bit count (which must come out exact) and the final states
 *            (which must hold the last symbols and 20 bits of their sum),
 *            nearly every other corruption from 64 symbols on (all but a few
 *            in 100000 single bit flips when measured); under 64 symbols
 *            (one state, 5 bits of the sum) 2 to 14% of bit flips go
 *            unnoticed.
 * The wire format's checksum is what guarantees integrity.
 */
#ifndef ECN_SPLIT_CODEC_H
#define ECN_SPLIT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "../ecnet.h"

typedef enum { ECN_CODEC_RAW = 0, ECN_CODEC_ZLIB = 1, ECN_CODEC_HUFFMAN = 2, ECN_CODEC_RANS = 3 } ecn_codec_id;
typedef enum { ECN_DPCM_NONE = 0, ECN_DPCM_CHANNEL = 1, ECN_DPCM_ROW = 2, ECN_DPCM_COLUMN = 3 } ecn_dpcm_mode;

/* "raw", "zlib", "huffman", "rans"; NULL for an unknown id. */
const char *ecn_codec_name(ecn_codec_id id);
int ecn_codec_from_name(const char *name, ecn_codec_id *id, ecn_err *err);
/* "none", "channel", "row", "column". */
const char *ecn_dpcm_name(ecn_dpcm_mode m);
int ecn_dpcm_from_name(const char *name, ecn_dpcm_mode *m, ecn_err *err);

/* ---- prior tables ------------------------------------------------------ */

#define ECN_PRIOR_VERSION 1

typedef struct ecn_prior {
    int bits;            /* B: counts[0 .. 2^B - 1] are used, the rest stay 0 */
    uint64_t counts[256];
} ecn_prior;

int ecn_prior_init(ecn_prior *p, int bits, ecn_err *err);
/* Count n more symbols; fails on a symbol >= 2^B or a total that would pass
 * ECN_PRIOR_MAX_TOTAL. */
#define ECN_PRIOR_MAX_TOTAL ((uint64_t)1 << 56)
int ecn_prior_add(ecn_prior *p, const uint8_t *sym, size_t n, ecn_err *err);
/* Serialised form, little-endian:
 *   "ECNP", u8 version (1), u8 bits, u16 0, u64 counts[2^B],
 *   u32 CRC-32 (zlib's crc32) of everything before it. */
size_t ecn_prior_size(int bits);
int ecn_prior_save(const ecn_prior *p, uint8_t *out, size_t cap, size_t *len, ecn_err *err);
/* Checks magic, version, bits, exact length, CRC and the total. */
int ecn_prior_load(ecn_prior *p, const uint8_t *in, size_t len, ecn_err *err);

/* Order-0 entropy in bits per symbol of a histogram (0 for an empty one):
 * the size bound a static entropy coder is measured against. */
double ecn_entropy_bits(const uint64_t *counts, int nsym);

/* ---- codecs ---------------------------------------------------------------- */

typedef struct ecn_codec_opts {
    ecn_codec_id id;
    int bits;           /* B, 1..8: every symbol is < 2^B */
    int level;          /* zlib level 1..9; 0 means 6 */
    ecn_dpcm_mode dpcm; /* ECN_DPCM_NONE, or a predictor (then n must equal shape's size) */
    ecn_shape shape;    /* symbol layout, C x H x W, for DPCM */
} ecn_codec_opts;

typedef struct ecn_codec ecn_codec; /* defined below: tables, about 56 KiB */

/* Build a codec (its tables, from the prior for huffman and rans; the prior
 * may be NULL for raw and zlib).  No memory is allocated: c can live on the
 * heap or the stack, and needs no clean-up.  A built codec is read-only:
 * threads may share it. */
int ecn_codec_init(ecn_codec *c, const ecn_codec_opts *opts, const ecn_prior *prior, ecn_err *err);

/* Largest payload ecn_encode can produce for n symbols (SIZE_MAX on overflow). */
size_t ecn_encode_bound(const ecn_codec *c, size_t n);

/* Encode n symbols into out (cap bytes); *out_len is the payload size.  Fails
 * on a symbol >= 2^B or when cap is too small (cap >= ecn_encode_bound is
 * always enough). */
int ecn_encode(const ecn_codec *c, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
               ecn_err *err);
/* Decode exactly n symbols from a payload of len bytes.  n comes from the
 * wire format; a payload that holds more or fewer symbols is an error for
 * zlib and rans, and for raw and huffman whenever it shows in the length or
 * the padding.  On error the contents of sym[0..n) are unspecified. */
/* The same without a copy: sym is overwritten with the DPCM residuals (when
 * DPCM is on).  For callers whose symbols are scratch anyway (a frame). */
int ecn_encode_in_place(const ecn_codec *c, uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                        ecn_err *err);
int ecn_decode(const ecn_codec *c, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err);

/* ---- DPCM (dpcm.c) -------------------------------------------------------- */

/* Residuals of the n = C*H*W symbols in `in` into `out` (out may equal in). */
int ecn_dpcm_forward(ecn_dpcm_mode m, ecn_shape s, int bits, const uint8_t *in, uint8_t *out, size_t n,
                     ecn_err *err);
/* Undo ecn_dpcm_forward in place. */
int ecn_dpcm_inverse(ecn_dpcm_mode m, ecn_shape s, int bits, uint8_t *sym, size_t n, ecn_err *err);

/* ---- internals: shared by codec.c, huffman.c and rans.c; not API ---------- */

#define ECN_HUFF_MAX_LEN 15
#define ECN_HUFF_FAST_BITS 11

typedef struct ecn_huff {
    int nsym;
    int max_len;
    uint8_t len[256];                       /* code length of each symbol, 1..15 */
    uint16_t code[256];                     /* its code, bit-reversed (LSB first on the wire) */
    uint16_t fast[1 << ECN_HUFF_FAST_BITS]; /* next 11 bits -> symbol | length << 8; 0: longer code */
    uint16_t first[ECN_HUFF_MAX_LEN + 2];   /* canonical: first code of each length */
    uint16_t count[ECN_HUFF_MAX_LEN + 2];   /* codes of each length */
    uint16_t index[ECN_HUFF_MAX_LEN + 2];   /* where each length starts in sorted[] */
    uint8_t sorted[256];                    /* symbols by (length, symbol) */
} ecn_huff;

int ecn_huff_build(ecn_huff *h, const uint64_t *counts, int nsym, ecn_err *err);
size_t ecn_huff_bound(const ecn_huff *h, size_t n);
int ecn_huff_encode(const ecn_huff *h, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                    ecn_err *err);
int ecn_huff_decode(const ecn_huff *h, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err);

#include "rans.h" /* ecn_rans: the rANS tables and functions */

struct ecn_codec {
    ecn_codec_opts opts;
    int ready;       /* set by ecn_codec_init */
    ecn_huff huff;   /* ECN_CODEC_HUFFMAN */
    ecn_rans rans;   /* ECN_CODEC_RANS */
};

#endif
