# tgs: salt segmentation of seismic tiles as small Unix tools.
# `make` builds bin/; `make test` runs the suite; `make help` lists the rest.

VERSION   = 0.1.0
PREFIX   ?= /usr/local
MANPREFIX ?= $(PREFIX)/share/man
DESTDIR  ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
PYTHON  ?= /usr/bin/python3
# O: object directory; B: where the tools land. The sanitizer build points
# both elsewhere so the two builds never mix objects.
O ?= build
B ?= bin

WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CPPFLAGS += -Ilib/common -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -DTGS_VERSION='"$(VERSION)"'
# -fno-math-errno: sqrtf and friends vectorise; nothing here reads errno after math.
ALL_CFLAGS = -std=c11 $(WARN) -fno-math-errno $(CFLAGS) -MMD -MP
LDLIBS  += -lpng -lopenblas -lm -lpthread

TOOLS    = tgs-stack25d tgs-rle tgs-info tgs-augment tgs-fold tgs-synth tgs-eval tgs-train tgs-mcdrop tgs-show tgs-refine tgs-mae
# lib/common: what every tool shares; nn/: the engine; nn/cpu/: its CPU backend
LIB_DIRS = lib/common lib/common/nn lib/common/nn/cpu lib/common/nn/sim
LIB_SRC  = $(sort $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
LIB_HDR  = $(sort $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.h $(d)/*.def)))
LIB_OBJ  = $(LIB_SRC:%.c=$(O)/%.o)
UNIT_SRC = $(sort $(wildcard tests/unit/*.c))
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
MANPAGES = $(sort $(wildcard man/*.[1-9]))

SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: all config deps test check sanitize test-sanitize fuzz fuzz-build fuzz-short bench bench-rle bench-engine bench-fit refs install uninstall clean help demo
.DEFAULT_GOAL := all
# Keep the objects make would see as intermediate (tool and unit test
# objects, made by a chain of pattern rules). Named, not every target: a
# secondary file that is missing does not make its dependents out of date,
# which a stage of make submission must (a removed decisions.txt is made
# again).
.SECONDARY: $(TOOLS:%=$(O)/tools/%.o) $(UNIT_SRC:tests/unit/%.c=$(O)/tests/unit/%.o)

all: config $(TOOLS:%=$(B)/%) $(UNIT_BIN)

# What optional parts this machine has (the GPU backend is a later issue;
# the detection is here, and tested, so it is not silently dead then).
config:
	@sh tools/detect-cuda.sh "$(NVCC)" "$(CUDA_HOME)"

# Made afresh: nn/op_conv.o and nn/cpu/op_conv.o are members of one name.
$(O)/libtgs.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# nn/cpu/vmath.h's 8-float vectors: GCC warns of the AVX calling convention
# of a call that, all inline, never happens
$(O)/lib/common/nn/cpu/op_act.o: WARN += -Wno-psabi

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(B)/%: $(O)/tools/%.o $(O)/libtgs.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(O)/libtgs.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(LIB_OBJ:.o=.d) $(TOOLS:%=$(O)/tools/%.d) $(UNIT_SRC:tests/unit/%.c=$(O)/tests/unit/%.d)

# Missing system packages, installed with apt-get; does nothing when all
# are present.
deps:
	@sh tools/deps.sh

# The whole suite; ends with "N passed, N failed".
test: all
	@TGS_BIN=$(B) TGS_TESTBIN=$(O)/tests PYTHON=$(PYTHON) sh tests/run.sh

# The same suite against an ASan + UBSan build of every tool.
sanitize:
	@$(MAKE) --no-print-directory O=build/asan B=build/asan/bin CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" all
test-sanitize: sanitize
	@TGS_BIN=build/asan/bin TGS_TESTBIN=build/asan/tests PYTHON=$(PYTHON) TGS_SANITIZED=1 sh tests/run.sh

# What CI and the README run: packages, the suite, then the suite again
# under the sanitizers.
check: deps
	@$(MAKE) --no-print-directory test
	@$(MAKE) --no-print-directory test-sanitize

# Fuzz the stream reader and the RLE decoder (libFuzzer, clang). The suite
# runs each for a few seconds; this runs them for FUZZ_SECONDS each.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS = fuzz_stream fuzz_rle
FUZZ_CC ?= clang
# UBSan must abort (not print and go on) for libFuzzer to keep the input.
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# One clang command per target over the library's sources (not libtgs.a,
# which is built without coverage); the headers are listed so an edit to
# one rebuilds, and filtered out of the command line.
$(O)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) -g -O1 $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)
fuzz-build: $(FUZZ_TARGETS:%=$(O)/fuzz/%)
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do sh tests/fuzz/run.sh $(O)/fuzz/$$t $(FUZZ_SECONDS) || exit 1; done
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

# tgs-rle encode against numpy (end to end, and the encoder alone, timed by
# rle_bench), then the engine: unet-ref against PyTorch (bench/engine.sh).
BENCH_PROGS = rle_bench unet_bench conv_bench
$(BENCH_PROGS:%=$(O)/bench/%): $(O)/bench/%: $(O)/bench/%.o $(O)/libtgs.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
-include $(BENCH_PROGS:%=$(O)/bench/%.d)
bench: bench-rle bench-engine
bench-rle: all $(O)/bench/rle_bench
	@TGS_BIN=$(B) PYTHON=$(PYTHON) RLE_BENCH=$(O)/bench/rle_bench sh bench/run.sh
bench-engine: $(O)/bench/unet_bench
	@UNET_BENCH=$(O)/bench/unet_bench PYTHON=$(PYTHON) O=$(O) sh bench/engine.sh
# Not in bench: resunet trained by tgs-train and by its PyTorch twin, the
# two train-loss curves side by side (about 10 minutes on 2 cores;
# FIT_SEED=2 draws both sides again).
bench-fit: $(addprefix $(B)/,tgs-stack25d tgs-fold tgs-info tgs-augment tgs-train)
	@TGS_BIN=$(B) PYTHON=$(PYTHON) sh bench/fit.sh

# PyTorch references of the engine's tests (tests/torch/gen_*.py into
# tests/data/torch/); needs python3-torch. The files are committed, so the
# tests themselves run without torch.
refs:
	@for f in tests/torch/gen_*.py; do (cd tests/torch && $(PYTHON) $${f##*/}) || exit 1; done

demo: all
	@TGS_BIN=$(B) MAKE="$(MAKE)" sh tools/demo.sh

# The pipeline stages (make submission runs them all; pipelines/*.mk).
include pipelines/common.mk
include pipelines/data.mk
include pipelines/train.mk
# after train.mk, whose FOLD and trn$(FOLD).tsr its rules name
include pipelines/pretrain.mk
include pipelines/uncertainty.mk
include pipelines/refine.mk
include pipelines/submit.mk

install: all
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1 $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man7
	for t in $(TOOLS); do cp -f $(B)/$$t $(DESTDIR)$(PREFIX)/bin/$$t && chmod 755 $(DESTDIR)$(PREFIX)/bin/$$t; done
	for m in $(MANPAGES); do s=$${m##*.}; cp -f $$m $(DESTDIR)$(MANPREFIX)/man$$s/ && chmod 644 $(DESTDIR)$(MANPREFIX)/man$$s/$${m##*/}; done

uninstall:
	for t in $(TOOLS); do rm -f $(DESTDIR)$(PREFIX)/bin/$$t; done
	for m in $(MANPAGES); do s=$${m##*.}; rm -f $(DESTDIR)$(MANPREFIX)/man$$s/$${m##*/}; done

clean:
	rm -rf build bin

help:
	@echo "make            build bin/ (and say what GPU parts were found)"
	@echo "make deps       install missing system packages (apt-get)"
	@echo "make test       the test suite"
	@echo "make check      deps, test, and the suite under ASan+UBSan"
	@echo "make fuzz       fuzz the stream reader and RLE decoder (FUZZ_SECONDS each)"
	@echo "make bench      benchmarks: tgs-rle against numpy, the engine against PyTorch"
	@echo "make bench-fit  tgs-train and PyTorch fitting the same resunet: the curves side by side"
	@echo "make submission the whole flow on DATA: pretrain, FOLDS models, uncertainty, refine, decisions -> submission.csv"
	@echo "                (stages: submission-pretrain, -train, -uncertainty, -refine; sizes: FOLDS SUB_EPOCHS SUB_MODEL"
	@echo "                PASSES TTA PRETRAIN SUB_MAE_EPOCHS REFINE_FLAGS; make -n submission shows the plan;"
	@echo "                at the defaults about 2 h 20 min on 2 cores, out-of-fold mAP 0.754: pipelines/RESULTS.md)"
	@echo "make uncertainty-table  on folds 0 and 1 (UNC_A, UNC_B runs): TTA, MC dropout, decisions tuned on the other fold"
	@echo "make refs       regenerate the PyTorch reference files (needs python3-torch)"
	@echo "make demo       make submission on a synthetic set (tgs-synth), then the shipped model on the 12 real tiles of tests/data"
	@echo "make data       work/train.tsr, work/test.tsr from DATA (../shared/data/tgs)"
	@echo "make pretrain   tgs-mae on the test tiles and the training folds of FOLD: work/runs/mae-fFOLD"
	@echo "make train      train with fold FOLD (default 0) of 5 held out (INIT=encoder.ckpt to start from); make eval scores it"
	@echo "make install    to \$$DESTDIR\$$PREFIX (default $(PREFIX)); uninstall removes"
