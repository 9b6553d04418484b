# The training stage on the real tiles, one of K folds held out:
#   make train FOLD=0        work/runs/f0/{best,last}.ckpt and log.csv
#   make eval FOLD=0         the held-out fold scored by tgs-eval
# The defaults are the best recipe measured, the last row of
# pipelines/RESULTS.md, which has its figure and minutes: resunet w12
# without dropout and with the hypercolumn cut to 8 channels a level
# (hcw=8: a cheaper step buys more epochs), half the empty tiles dropped
# each epoch, SGD with Nesterov momentum, a cosine rate and an exponential
# weight average, BCE+Dice then symmetric Lovasz from 3/8 of the way.
# EPOCHS scales the schedule; dropout=0 is measured, so MODEL needs
# "dropout=..." put back before Monte Carlo passes mean anything.
# Every run, its command and figure, and what they say: pipelines/RESULTS.md.

FOLDS   ?= 5
FOLD    ?= 0
EPOCHS  ?= 136
STAGE2  ?= $(shell echo $$(( $(EPOCHS) * 3 / 8 )))
MODEL   ?= resunet widths=12,24,48,96,192 blocks=1,1,1,1,1 dropout=0 hcw=8
SEED    ?= 1
# an encoder checkpoint to start from (make pretrain's), or none
INIT    ?=
# tgs-augment's options beyond the padding
AUG_FLAGS ?= --keep-empty 0.5
TRAIN_FLAGS ?= --loss bce=1,dice=1,cls=0.1 --loss2 lovasz-sym=1,cls=0.1 --stage2-epoch $(STAGE2) \
               --optim sgd --nesterov --momentum 0.9 --lr 0.03 --wd 1e-4 \
               --sched cosine:$(EPOCHS):1:3e-4,warmup=2 --batch 16 --ema 0.999
RUN = $(WORK)/runs/f$(FOLD)

.PHONY: train eval

$(WORK)/val$(FOLD).tsr: $(WORK)/train.tsr | $(B)/tgs-fold
	$(B)/tgs-fold -k $(FOLDS) -i $(FOLD) -q -o $@ $<
$(WORK)/trn$(FOLD).tsr: $(WORK)/train.tsr | $(B)/tgs-fold
	$(B)/tgs-fold -k $(FOLDS) -i $(FOLD) --complement -q -o $@ $<

# The tools are order-only (see data.mk): a rebuilt binary must not send
# a finished 2-hour run, and make eval after it, round again.
$(RUN)/best.ckpt: $(WORK)/trn$(FOLD).tsr $(WORK)/val$(FOLD).tsr $(INIT) | $(B)/tgs-augment $(B)/tgs-train
	rm -rf $(RUN)
	$(B)/tgs-augment --train --size 112 --epochs $(EPOCHS) --seed $(SEED) $(AUG_FLAGS) -q $(WORK)/trn$(FOLD).tsr \
	  | $(B)/tgs-train -o $(RUN) --val $(WORK)/val$(FOLD).tsr --arch "$(MODEL)" --size 112 --epochs $(EPOCHS) \
	    --seed $(SEED) $(TRAIN_FLAGS) $(if $(INIT),--init $(INIT)); \
	  $(PIPE_OK)

train: $(RUN)/best.ckpt

eval: $(RUN)/best.ckpt $(B)/tgs-mcdrop $(B)/tgs-eval
	$(B)/tgs-mcdrop -q -m $(RUN)/best.ckpt $(WORK)/val$(FOLD).tsr | $(B)/tgs-eval --sweep

# The submission flow's training (make submission-train): one model per
# fold, each its own target so that make -j runs them side by side, each
# from the pretrained encoder (PRETRAIN=no: from random weights). The
# recipe is make train's at SUB_EPOCHS (24: about 21 minutes a fold on 2
# cores, 0.72-0.75 on folds 0 and 1 in RESULTS.md), with dropout in the
# decoder so that the uncertainty stage's Monte Carlo passes differ.
SUB_EPOCHS ?= 24
SUB_STAGE2 ?= $(shell e=$$(( $(SUB_EPOCHS) * 3 / 8 )); echo $$(( e > 0 ? e : 1 )))
SUB_MODEL  ?= resunet widths=12,24,48,96,192 blocks=1,1,1,1,1 dropout=0.1 hcw=8
SUB_TRAIN_FLAGS ?= --loss bce=1,dice=1,cls=0.1 --loss2 lovasz-sym=1,cls=0.1 --stage2-epoch $(SUB_STAGE2) \
               --optim sgd --nesterov --momentum 0.9 --lr 0.03 --wd 1e-4 \
               --sched cosine:$(SUB_EPOCHS):1:3e-4,warmup=2 --batch 16 --ema 0.999

# the folds: stratified by coverage, remade when FOLDS changes; kept, but
# not remade once their models are trained (secondary)
.SECONDARY: $(FOLD_IDS:%=$(SUB)/val%.tsr) $(FOLD_IDS:%=$(SUB)/trn%.tsr)
$(eval $(call SETTINGS,$(SUB)/folds.cfg,$(FOLDS)))
$(SUB)/val%.tsr: $(SUB)/train.tsr $(SUB)/folds.cfg | $(B)/tgs-fold
	$(B)/tgs-fold -k $(FOLDS) -i $* -q -o $@ $<
$(SUB)/trn%.tsr: $(SUB)/train.tsr $(SUB)/folds.cfg | $(B)/tgs-fold
	$(B)/tgs-fold -k $(FOLDS) -i $* --complement -q -o $@ $<

$(eval $(call SETTINGS,$(SUB)/train.cfg,$(SUB_MODEL) | $(SUB_EPOCHS) $(SEED) $(PRETRAIN) | $(AUG_FLAGS) | $(SUB_TRAIN_FLAGS)))
# (the test tiles are read first, order-only: a tile that cannot be read
# stops the flow before hours of training, not after)
$(SUB)/f%/best.ckpt: $(SUB)/trn%.tsr $(SUB)/val%.tsr $(SUB)/train.cfg $(SUB_INIT) | $(B)/tgs-augment $(B)/tgs-train $(SUB)/test.tsr
	rm -rf $(@D)
	$(B)/tgs-augment --train --size 112 --epochs $(SUB_EPOCHS) --seed $(SEED) $(AUG_FLAGS) -q $(SUB)/trn$*.tsr \
	  | $(B)/tgs-train -o $(@D) --threads $(THREADS) --val $(SUB)/val$*.tsr --arch "$(SUB_MODEL)" --size 112 --epochs $(SUB_EPOCHS) \
	    --seed $(SEED) $(SUB_TRAIN_FLAGS) $(if $(SUB_INIT),--init $(SUB_INIT)); \
	  $(PIPE_OK)
	@awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$$i] = i; next } $$c["val_map"] > b { b = $$c["val_map"]; t = $$c["val_threshold"]; m = $$c["val_map50"]; e = $$1 } \
	  END { printf "train: fold $* best val mAP %s at threshold %s (%s at 0.5), epoch %s of %d\n", b, t, m, e, NR - 1 }' $(@D)/log.csv

SUB_MODELS = $(foreach k,$(FOLD_IDS),$(SUB)/f$(k)/best.ckpt)
.PHONY: submission-train
submission-train: $(SUB_MODELS)
