# pipelines/common.mk: what every stage's recipes share. Included first.
#
# Recipes run under bash with pipefail, so a failing stage of a pipe fails
# the target. One exception is written out: a producer killed by SIGPIPE
# (exit 141) because its consumer finished early and well (tgs-train
# stopping on --patience, tgs-mae at its --epochs) is not a failure; the
# last stage's own status always counts. Use PIPE_OK right after a pipe:
#     a | b; $(PIPE_OK)
SHELL      = /bin/bash
.SHELLFLAGS = -o pipefail -c
PIPE_OK = s=("$${PIPESTATUS[@]}"); [ "$${s[-1]}" = 0 ] && for x in "$${s[@]}"; do [ "$$x" = 0 ] || [ "$$x" = 141 ] || exit 1; done

# A settings file: the text of its variables, rewritten only when the
# text changes, so targets depending on it are remade when (and only
# when) the settings they were made with change: `make submission
# SUB_EPOCHS=40` retrains, a second plain `make submission` does nothing,
# and `make -n` shows just what would run (the file is compared as the
# Makefile is read; it gets a rule only when it must change). GNU make
# 4.2 or later ($(file <)).
#     $(eval $(call SETTINGS,path/train.cfg,TEXT))
define SETTINGS
ifneq ($$(file <$(1)),$(2))
$(1): FORCE
	@mkdir -p $$(@D)
	@printf '%s\n' '$(subst ','\'',$(2))' > $$@
endif
endef

.PHONY: FORCE
FORCE:

# A target whose recipe fails is removed (a best.ckpt of a run that met
# NaN, a half-made stream), so the next make does it again rather than
# taking it for done; what a run keeps to resume (last.ckpt) is not a
# target and stays.
.DELETE_ON_ERROR:

# The submission flow (make submission) keeps everything it makes here,
# apart from make train's work/ files: its own copy of the streams, each
# stage's settings, models, predictions, decisions and report.
SUB ?= $(WORK)/sub
# FOLDS (train.mk) models, numbered 0..FOLDS-1; halves a (even) and b (odd)
# cross-fit the refiner and the decisions (refine.mk, submit.mk).
FOLD_IDS = $(shell seq 0 $$(( $(FOLDS) - 1 )))
FOLDS_A  = $(filter 0 2 4 6 8 10 12 14 16 18,$(FOLD_IDS))
FOLDS_B  = $(filter-out $(FOLDS_A),$(FOLD_IDS))
# CPU threads of each tool that runs a model (0: all cores). With make -j N
# give each of the N recipes its share: make -j4 submission THREADS=4 on 16
# cores. Left out of the settings files: changing it redoes nothing.
THREADS ?= 0
# yes: every fold's model starts from the encoder tgs-mae pretrained on
# the test tiles (pretrain.mk); no: from random weights
PRETRAIN ?= yes
SUB_INIT  = $(if $(filter yes,$(PRETRAIN)),$(SUB)/mae/encoder.ckpt)
