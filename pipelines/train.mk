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
	  | $(B)/tgs-train -o $(RUN) --val $(WORK)/val$(FOLD).tsr --model "$(MODEL)" --size 112 --epochs $(EPOCHS) \
	    --seed $(SEED) $(TRAIN_FLAGS) $(if $(INIT),--init $(INIT))

train: $(RUN)/best.ckpt

eval: $(RUN)/best.ckpt $(B)/tgs-mcdrop $(B)/tgs-eval
	$(B)/tgs-mcdrop -q -m $(RUN)/best.ckpt $(WORK)/val$(FOLD).tsr | $(B)/tgs-eval --sweep
