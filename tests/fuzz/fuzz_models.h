/* fuzz_models.h - the receivers the frame fuzzer feeds, shared with the
 * program that writes its seed corpus (make_corpus.c).
 *
 * A fuzz input is
 *
 *   byte 0   which receiver (taken modulo fuzz_receiver_count())
 *   byte 1   flags: FUZZ_FIX_CRC rewrites the last four bytes of a frame
 *            with its CRC-32 before decoding, so that mutated frames get past
 *            the checksum to the checks behind it
 *   2 ...    the message as it came off the wire
 *
 * Receivers:
 *   FUZZ_NET    cfg/fashion-branchy.cfg (no weights: the decoder needs only
 *               the shapes) with one of several [split] settings, decoded with
 *               ecn_net_split_decode, as a cloud worker does;
 *   FUZZ_SPEC   a frame spec of its own with several tensors, large enough
 *               for rANS's 4- and 32-lane layouts, decoded with
 *               ecn_frame_decode;
 *   FUZZ_REPLY  the edge's reply decoder, ecn_reply_decode.
 */
#ifndef ECN_FUZZ_MODELS_H
#define ECN_FUZZ_MODELS_H

#include "ecnet.h"
#include "split/frame.h"

#define FUZZ_CFG "cfg/fashion-branchy.cfg"
#define FUZZ_PREFIX 2     /* receiver byte and flag byte */
#define FUZZ_FIX_CRC 0x01 /* flag: rewrite the frame's checksum */

typedef enum { FUZZ_NET, FUZZ_SPEC, FUZZ_REPLY } fuzz_kind;

typedef struct fuzz_receiver {
    const char *name;
    fuzz_kind kind;
    ecn_net *net;                     /* FUZZ_NET */
    ecn_frame_spec spec;              /* FUZZ_SPEC */
    float *x[ECN_FRAME_MAX_TENSORS];  /* FUZZ_SPEC: where its tensors decode to */
} fuzz_receiver;

/* Build every receiver (once per process).  0, or -1 with a message. */
int fuzz_receivers_open(ecn_err *err);
void fuzz_receivers_close(void);
int fuzz_receiver_count(void);
fuzz_receiver *fuzz_receiver_get(int i);

#endif
