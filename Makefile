# ecnet - build, test and benchmark.
#
#   make                 libecnet.a and the ecnet command (build/)
#   make test            every test program; ends with "N passed, N failed"
#   make test SANITIZE=1 the same under AddressSanitizer and UBSan
#   make bench           ecnet against darknet and an OpenBLAS sgemm probe
#   make demo            ecnet next to darknet on YOLOv3-tiny, then a cloud and
#                        four edges on loopback
#   make soak            64 edges against one cloud, 1 and 2 workers
#   make fuzz            libFuzzer on the frame and reply decoders (FUZZ_SECONDS)
#   make weights         retrain weights/*.weights from the datasets
#   make weights-det     only the detectors (det-small, det-big) on a composed set
#   make GPU=1           the same with the CUDA backend in cuda/ (build/gpu/;
#                        CUBLAS=1 and CUDNN=1 add the cuBLAS / cuDNN paths)
#   make test-gpu        the GPU tests, built with GPU=1; fail without a device

CC       ?= cc
SANITIZE ?= 0
GPU      ?= 0
ARCH     ?= -march=native

ifeq ($(SANITIZE),1)
  BUILD  := build/san
  OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDOPT  := -fsanitize=address,undefined
else
  BUILD  := build
  OPT    := -O3 $(ARCH) -g
  LDOPT  :=
endif

CFLAGS  := -std=c11 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) -MMD -MP -Isrc
LDLIBS  := -lopenblas -lstb -lz -lcrypto -lpthread -lm

LIB_SRC   := $(wildcard src/core/*.c src/cpu/*.c src/layers/*.c src/detect/*.c src/train/*.c src/split/*.c src/net/*.c)
TOOL_SRC  := $(wildcard tools/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)

# ---- make GPU=1: the CUDA backend (cuda/*.cu, see cuda/README.md) ---------
# Its objects go to their own tree, build/gpu[-cublas][-cudnn]/, so that CPU
# and GPU objects never mix.  The C files see ECN_GPU (and ECN_CUBLAS,
# ECN_CUDNN); nothing else of the CPU build changes.  CUDA_ARCH lists the
# host GPUs' compute capabilities (a cubin each, and PTX of the last one for
# newer GPUs); JETSON_ARCH adds Jetson Orin (sm_87).  Empty JETSON_ARCH
# leaves it out.
CUDA_HOME   ?= /usr/local/cuda
NVCC        ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH   ?= 80 90
JETSON_ARCH ?= 87
CUBLAS      ?= 0
CUDNN       ?= 0
NVCC_DEPS   ?= -MMD -MP
ifeq ($(GPU),1)
  BUILD     := $(BUILD)/gpu$(if $(filter 1,$(CUBLAS)),-cublas)$(if $(filter 1,$(CUDNN)),-cudnn)
  GPU_DEFS  := -DECN_GPU $(if $(filter 1,$(CUBLAS)),-DECN_CUBLAS) $(if $(filter 1,$(CUDNN)),-DECN_CUDNN)
  GENCODE   := $(foreach a,$(sort $(CUDA_ARCH) $(JETSON_ARCH)),-gencode arch=compute_$(a),code=sm_$(a)) \
               -gencode arch=compute_$(lastword $(CUDA_ARCH)),code=compute_$(lastword $(CUDA_ARCH))
  NVCCFLAGS := -O3 $(GENCODE) $(GPU_DEFS) -Isrc -Icuda -Xcompiler -Wall,-Wextra $(NVCC_DEPS)
  CFLAGS    += $(GPU_DEFS) -I.
  LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 $(if $(filter 1,$(CUDNN)),-lcudnn) \
               $(if $(filter 1,$(CUBLAS)),-lcublas) -lcudart -lstdc++
  CUDA_OBJ  := $(patsubst %.cu,$(BUILD)/%.o,$(wildcard cuda/*.cu))
else ifneq ($(CUBLAS)$(CUDNN),00)
  $(error CUBLAS=1 and CUDNN=1 go with GPU=1)
endif

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CUDA_OBJ)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB       := $(BUILD)/libecnet.a
ECNET     := $(BUILD)/ecnet

DARKNET_INC := /usr/lib/darknet/include
DARKNET_LIB := /usr/lib/darknet

.PHONY: all test test-gpu bench soak demo weights clean
.SECONDARY:
all: $(ECNET)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/cuda/%.o: cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ECNET): $(TOOL_OBJ) $(LIB)
	$(CC) $(LDOPT) $(TOOL_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/tests/testlib.o $(LIB)
	$(CC) $(LDOPT) $^ $(LDLIBS) -o $@

# Tests of tool-side code link that code too.
$(BUILD)/tests/test_plot: $(BUILD)/tests/test_plot.o $(BUILD)/tests/testlib.o $(BUILD)/tools/plot.o $(LIB)
	$(CC) $(LDOPT) $^ $(LDLIBS) -o $@

# The darknet oracle links the reference library only, never libecnet.
$(BUILD)/darknet_ref: tests/darknet_ref.c
	@mkdir -p $(dir $@)
	@if [ -f $(DARKNET_LIB)/libdarknet.so ]; then \
	  $(CC) -std=c11 -O2 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -I$(DARKNET_INC) $< -o $@ \
	    -L$(DARKNET_LIB) -Wl,-rpath,$(DARKNET_LIB) -ldarknet -lm; \
	else echo "darknet package not installed: oracle tests will be skipped"; fi

test: $(ECNET) $(TEST_BIN) $(BUILD)/darknet_ref
	@ECNET=$(ECNET) BUILD=$(BUILD) sh tests/run.sh $(TEST_BIN)

# The GPU tests alone, in a GPU=1 build, with the device required: on a
# machine without one they fail instead of skipping.
ifeq ($(GPU),1)
test-gpu: $(ECNET) $(BUILD)/tests/test_gpu
	@ECN_REQUIRE_GPU=1 ECNET=$(ECNET) BUILD=$(BUILD) sh tests/run.sh $(BUILD)/tests/test_gpu
else
test-gpu:
	@$(MAKE) --no-print-directory GPU=1 test-gpu
endif

bench: $(ECNET) $(BUILD)/darknet_ref
	@ECNET=$(ECNET) BUILD=$(BUILD) sh tools/bench.sh

# 64 edge processes stream to one cloud for 30 s, with 1 and 2 workers:
# throughput, latency, and a check that every frame got exactly one result.
soak: $(ECNET)
	@ECNET=$(ECNET) sh tools/soak.sh

# Retrain the committed weights from the dataset (2 threads: the same bytes
# on every machine with the same OpenBLAS).
weights: $(ECNET)
	$(ECNET) train cfg/fashion.cfg --data fashion-mnist --out build/train --seed 1 --threads 2 --crop 0
	cp build/train/fashion_final.weights weights/fashion.weights
	$(ECNET) eval cfg/fashion.cfg weights/fashion.weights --data fashion-mnist | head -n 1
	$(ECNET) train cfg/fashion-branchy.cfg --data fashion-mnist --out build/train --seed 1 --threads 2
	cp build/train/fashion-branchy_final.weights weights/fashion-branchy.weights
	$(ECNET) eval cfg/fashion-branchy.cfg weights/fashion-branchy.weights --data fashion-mnist
	@$(MAKE) --no-print-directory weights-det

# The two detectors of the cascade, on the seed-1 composed set (generated
# into build/det, not committed; the same bytes on every machine with the
# darknet package's photographs).
.PHONY: weights-det
weights-det: $(ECNET)
	$(ECNET) dataset compose --out build/det --seed 1
	$(ECNET) train cfg/det-small.cfg --data build/det/det.data --out build/train --seed 1 --threads 2 --valid-limit 200
	cp build/train/det-small_final.weights weights/det-small.weights
	$(ECNET) map cfg/det-small.cfg weights/det-small.weights --data build/det/det.data --threads 2 --by-size
	$(ECNET) train cfg/det-big.cfg --data build/det/det.data --out build/train --seed 1 --threads 2 --valid-limit 200
	cp build/train/det-big_final.weights weights/det-big.weights
	$(ECNET) map cfg/det-big.cfg weights/det-big.weights --data build/det/det.data --threads 2 --by-size

demo: $(ECNET) $(BUILD)/darknet_ref
	@ECNET=$(ECNET) BUILD=$(BUILD) sh tools/demo.sh

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TEST_BIN:=.d) $(BUILD)/tests/testlib.d

# ---- make fuzz: libFuzzer on the frame and reply decoders -----------------
# Self-contained: clang builds the library again into its own tree,
# build/fuzz/ (build/ and build/san/ are left alone), with coverage for the
# fuzzer and ASan + UBSan.  tests/fuzz/make_corpus writes the seed corpus
# (valid frames of every codec, bit width and DPCM mode, and replies) to
# build/fuzz/corpus/; the fuzzer then runs for FUZZ_SECONDS from those seeds
# with a fixed seed, keeping what it finds new in build/fuzz/found/.  A crash
# or a broken property fails the target and leaves the input in build/fuzz/
# (crash-*, leak-*, timeout-*): rerun it with build/fuzz/fuzz_frame FILE.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 8192
FUZZ_SEED    ?= 1
FUZZ_DIR     := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -std=c11 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g $(ARCH) \
                -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -Isrc -Itests/fuzz
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_OWN_OBJ := $(patsubst %.c,$(FUZZ_DIR)/%.o,$(wildcard tests/fuzz/*.c))
FUZZ_MODELS  := $(FUZZ_DIR)/tests/fuzz/fuzz_models.o

.PHONY: fuzz
fuzz: $(FUZZ_DIR)/fuzz_frame $(FUZZ_DIR)/make_corpus
	rm -rf $(FUZZ_DIR)/corpus $(FUZZ_DIR)/found
	mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/found
	$(FUZZ_DIR)/make_corpus $(FUZZ_DIR)/corpus
	OPENBLAS_NUM_THREADS=1 $(FUZZ_DIR)/fuzz_frame -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
	  -seed=$(FUZZ_SEED) -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
	  $(FUZZ_DIR)/found $(FUZZ_DIR)/corpus

$(FUZZ_LIB_OBJ) $(FUZZ_OWN_OBJ): $(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/libecnet.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_frame: $(FUZZ_DIR)/tests/fuzz/fuzz_frame.o $(FUZZ_MODELS) $(FUZZ_DIR)/libecnet.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) $^ $(LDLIBS) -o $@

$(FUZZ_DIR)/make_corpus: $(FUZZ_DIR)/tests/fuzz/make_corpus.o $(FUZZ_MODELS) $(FUZZ_DIR)/libecnet.a
	$(FUZZ_CC) $(FUZZ_SAN) $^ $(LDLIBS) -o $@

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_OWN_OBJ:.o=.d)
