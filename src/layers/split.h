/* split.h - what the network needs from a [split] layer (see split.c). */
#ifndef ECN_SPLIT_LAYER_H
#define ECN_SPLIT_LAYER_H

#include <stdint.h>

#include "core/layer.h"

struct ecn_frame_spec;

/* Learn the cut set (the layers whose outputs cross) once the network is built. */
int ecn_split_finalize(ecn_layer *l, const ecn_layer *layers, int n_layers, const int *cut, int n_cut,
                       ecn_err *err);
/* Override bits (0: keep) and codec (NULL: keep). */
int ecn_split_configure(ecn_layer *l, int bits, const char *codec, ecn_err *err);
/* Image `image`'s cut set into a frame (edge side), or a frame into it (cloud side). */
int ecn_split_encode(ecn_layer *l, float *const *cut, int image, uint64_t frame_id, uint8_t **buf, size_t *cap,
                     size_t *len, ecn_err *err);
int ecn_split_decode(ecn_layer *l, float *const *cut, int image, const uint8_t *buf, size_t len,
                     uint64_t *frame_id, ecn_err *err);
/* Send the cut set of every image through the frame round trip, in place. */
void ecn_split_cross(ecn_layer *l, float *const *cut, const ecn_ctx *ctx);
/* Bytes of image `image`'s frame in the last round trip. */
size_t ecn_split_frame_bytes(const ecn_layer *l, int image);
/* The last round trip's error, or NULL. */
const char *ecn_split_error(const ecn_layer *l);
struct ecn_frame_spec *ecn_split_spec(ecn_layer *l);

#endif
