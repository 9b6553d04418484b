# The training stage on the real tiles, one of K folds held out:
#   make train FOLD=0        work/runs/f0/{best,last}.ckpt and log.csv
#   make eval FOLD=0         the held-out fold scored by tgs-eval
# The defaults keep the model's dropout for tgs-mcdrop's Monte Carlo
# passes; they gave 0.772 val mAP on fold 0 of 5 when the tiles had three
# channels. With MODEL="... dropout=0", AUG_FLAGS="--keep-empty 0.5",
# EPOCHS=56 and STAGE2=21, on one channel, 0.7822 in 90 minutes on 2 cores;
# with SGD (the last row of RESULTS.md) 0.7919 in 102 minutes.
# Every run, its command and figure, and what they say: pipelines/RESULTS.md.

FOLDS   ?= 5
FOLD    ?= 0
EPOCHS  ?= 48
STAGE2  ?= 18
MODEL   ?= resunet widths=12,24,48,96,192 blocks=1,1,1,1,1
SEED    ?= 1
# more tgs-augment options, e.g. AUG_FLAGS="--keep-empty 0.5"
AUG_FLAGS ?=
TRAIN_FLAGS ?= --loss bce=1,dice=1,cls=0.1 --loss2 lovasz-sym=1,cls=0.1 --stage2-epoch $(STAGE2) \
               --sched cosine:$(EPOCHS):1:1e-5 --lr 0.002 --batch 16
RUN = $(WORK)/runs/f$(FOLD)

.PHONY: train eval

$(WORK)/val$(FOLD).tsr: $(WORK)/train.tsr | $(B)/tgs-fold
	$(B)/tgs-fold -k $(FOLDS) -i $(FOLD) -q -o $@ $<
$(WORK)/trn$(FOLD).tsr: $(WORK)/train.tsr | $(B)/tgs-fold
	$(B)/tgs-fold -k $(FOLDS) -i $(FOLD) --complement -q -o $@ $<

# The tools are order-only (see data.mk): a rebuilt binary must not send
# a finished 2-hour run, and make eval after it, round again.
$(RUN)/best.ckpt: $(WORK)/trn$(FOLD).tsr $(WORK)/val$(FOLD).tsr | $(B)/tgs-augment $(B)/tgs-train
	rm -rf $(RUN)
	$(B)/tgs-augment --train --size 112 --epochs $(EPOCHS) --seed $(SEED) $(AUG_FLAGS) -q $(WORK)/trn$(FOLD).tsr \
	  | $(B)/tgs-train -o $(RUN) --val $(WORK)/val$(FOLD).tsr --model "$(MODEL)" --size 112 --epochs $(EPOCHS) \
	    --seed $(SEED) $(TRAIN_FLAGS)

train: $(RUN)/best.ckpt

eval: $(RUN)/best.ckpt $(B)/tgs-mcdrop $(B)/tgs-eval
	$(B)/tgs-mcdrop -q -m $(RUN)/best.ckpt $(WORK)/val$(FOLD).tsr | $(B)/tgs-eval --sweep
