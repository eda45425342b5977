/* frame.h - the bytes that cross the split: one frame per image.
 *
 * A frame carries every tensor of the cut set, each quantised (ranges fitted
 * to this frame) and losslessly coded, behind a header that lets the
 * receiver check it holds the same model.  Layout, little-endian:
 *
 *   offset  size  field
 *   0       4     magic "ECNF"
 *   4       2     version (2)
 *   6       2     number of tensors
 *   8       8     model fingerprint
 *   16      8     frame id
 *   24      ...   per tensor:
 *                   u32 layer index, u32 c, u32 h, u32 w
 *                   u8 codec, u8 dpcm, u8 symbol bits, u8 0
 *                   u32 length of the quantisation parameters, then them
 *                   (quant.h: bits, mode, range, percentile, per-channel lo/hi)
 *                   u32 payload length, then the payload (codec.h)
 *   end-4   4     CRC-32 (zlib's) of every byte before it
 *
 * Decoding trusts nothing: magic, version, fingerprint, tensor count, each
 * tensor's layer, shape, codec and DPCM mode must match the receiver's
 * model; lengths must fit; the CRC must match.  docs/wire.md has the same.
 */
#ifndef ECN_SPLIT_FRAME_H
#define ECN_SPLIT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "quant.h"

#define ECN_FRAME_MAGIC "ECNF"
#define ECN_FRAME_VERSION 2 /* 2: the bit-wise rANS payload */
#define ECN_FRAME_MAX_TENSORS 16
#define ECN_FRAME_HEADER 24

/* How one tensor of the cut set is coded. */
typedef struct ecn_frame_tensor {
    int layer;
    ecn_shape shape;
    ecn_quant quant;  /* bits, mode, range; the ranges are refitted per frame */
    ecn_codec codec;  /* built for this shape and symbol width */
} ecn_frame_tensor;

typedef struct ecn_frame_spec {
    uint64_t fingerprint;
    int n;
    ecn_frame_tensor t[ECN_FRAME_MAX_TENSORS];
    /* working buffers, grown on demand */
    uint8_t *sym, *payload;
    size_t sym_cap, payload_cap;
} ecn_frame_spec;

typedef struct ecn_split_params {
    int bits;              /* 32 float, 16 half, 8, 6, 4, 2 */
    ecn_quant_mode mode;
    ecn_range_mode range;
    float percentile;
    ecn_codec_id codec;
    int level;             /* zlib */
    ecn_dpcm_mode dpcm;
    const ecn_prior *prior; /* huffman / rans table; NULL: flat */
} ecn_split_params;

/* Set up the spec for tensors of the given layers and shapes. */
int ecn_frame_spec_init(ecn_frame_spec *spec, const ecn_split_params *sp, uint64_t fingerprint,
                        const int *layers, const ecn_shape *shapes, int n, ecn_err *err);
void ecn_frame_spec_free(ecn_frame_spec *spec);

/* Give an encoded frame another id (and the CRC that goes with it). */
void ecn_frame_restamp(uint8_t *buf, size_t len, uint64_t frame_id);

/* Encode the tensors x[k] (one image) into *buf (grown as needed). */
int ecn_frame_encode(ecn_frame_spec *spec, uint64_t frame_id, const float *const *x, uint8_t **buf,
                     size_t *cap, size_t *len, ecn_err *err);
/* Decode a frame into the tensors x[k]. */
int ecn_frame_decode(ecn_frame_spec *spec, const uint8_t *buf, size_t len, uint64_t *frame_id,
                     float *const *x, ecn_err *err);

#endif
