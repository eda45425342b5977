# ecnet - build, test and benchmark.
#
#   make                 libecnet.a and the ecnet command (build/)
#   make test            every test program; ends with "N passed, N failed"
#   make test SANITIZE=1 the same under AddressSanitizer and UBSan
#   make bench           ecnet against darknet and an OpenBLAS sgemm probe
#   make demo            ecnet next to darknet on YOLOv3-tiny
#   make weights         retrain weights/*.weights from the datasets
#   make GPU=1           reserved for the CUDA backend in cuda/

CC       ?= cc
SANITIZE ?= 0
GPU      ?= 0
ARCH     ?= -march=native

ifeq ($(GPU),1)
$(error the CUDA backend in cuda/ is not part of this build yet)
endif

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
LDLIBS  := -lopenblas -lstb -lz -lpthread -lm

LIB_SRC   := $(wildcard src/core/*.c src/cpu/*.c src/layers/*.c src/detect/*.c src/train/*.c src/split/*.c src/net/*.c)
TOOL_SRC  := $(wildcard tools/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB       := $(BUILD)/libecnet.a
ECNET     := $(BUILD)/ecnet

DARKNET_INC := /usr/lib/darknet/include
DARKNET_LIB := /usr/lib/darknet

.PHONY: all test bench demo weights clean
.SECONDARY:
all: $(ECNET)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

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

bench: $(ECNET) $(BUILD)/darknet_ref
	@ECNET=$(ECNET) BUILD=$(BUILD) sh tools/bench.sh

# Retrain the committed weights from the dataset (2 threads: the same bytes
# on every machine with the same OpenBLAS).
weights: $(ECNET)
	$(ECNET) train cfg/fashion.cfg --data fashion-mnist --out build/train --seed 1 --threads 2 --crop 0
	cp build/train/fashion_final.weights weights/fashion.weights
	$(ECNET) eval cfg/fashion.cfg weights/fashion.weights --data fashion-mnist | head -n 1
	$(ECNET) train cfg/fashion-branchy.cfg --data fashion-mnist --out build/train --seed 1 --threads 2
	cp build/train/fashion-branchy_final.weights weights/fashion-branchy.weights
	$(ECNET) eval cfg/fashion-branchy.cfg weights/fashion-branchy.weights --data fashion-mnist

demo: $(ECNET) $(BUILD)/darknet_ref
	@ECNET=$(ECNET) BUILD=$(BUILD) sh tools/demo.sh

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d)
