# The pretraining stage (tgs-mae): the encoder of MODEL learns to fill in
# hidden patches of unlabelled tiles, and make train starts from it:
#   make pretrain FOLD=0     work/runs/mae-f0/{encoder,last}.ckpt, log.csv, recon.png
#   make train FOLD=0 INIT=work/runs/mae-f0/encoder.ckpt
# The pool never holds the fold the fine-tuned model is judged on: the
# test tiles (but the first MAE_VAL, whose reconstruction loss the log
# reports) and the training folds' images (labels unread). The figures of
# this recipe against random starts: pipelines/RESULTS.md.

MAE_EPOCHS ?= 15
MAE_RATIO  ?= 0.6
MAE_VAL    ?= 300
MAE_RUN     = $(WORK)/runs/mae-f$(FOLD)

.PHONY: pretrain

# the test tiles, in id order, split into the first MAE_VAL and the rest
$(WORK)/mae/test-ids.txt:
	@mkdir -p $(@D)
	ls $(DATA)/test/images | sed -n 's/\.png$$//p' | LC_ALL=C sort > $@
$(WORK)/mae/test-val.tsr: $(WORK)/mae/test-ids.txt | $(B)/tgs-stack25d
	head -n $(MAE_VAL) $< > $@.ids
	$(B)/tgs-stack25d -q --images $(DATA)/test/images $(STACK_FLAGS) --ids $@.ids -o $@
$(WORK)/mae/test-pool.tsr: $(WORK)/mae/test-ids.txt | $(B)/tgs-stack25d
	tail -n +$$(( $(MAE_VAL) + 1 )) $< > $@.ids
	$(B)/tgs-stack25d -q --images $(DATA)/test/images $(STACK_FLAGS) --ids $@.ids -o $@

# streams concatenate (formats/tensor-stream.md)
$(WORK)/mae/pool$(FOLD).tsr: $(WORK)/mae/test-pool.tsr $(WORK)/trn$(FOLD).tsr
	cat $^ > $@.tmp && mv $@.tmp $@

# tgs-mae writes encoder.ckpt after every epoch and ends quietly where its
# stream ends: a failing tgs-augment fails the target (pipefail,
# common.mk), and the encoder of a run cut short is removed (last.ckpt
# stays, to --resume).
$(MAE_RUN)/encoder.ckpt: $(WORK)/mae/pool$(FOLD).tsr $(WORK)/mae/test-val.tsr | $(B)/tgs-augment $(B)/tgs-mae
	rm -rf $(MAE_RUN)
	$(B)/tgs-augment --train --size 112 --epochs $(MAE_EPOCHS) --shuffle --seed $(SEED) -q $< \
	  | $(B)/tgs-mae -o $(MAE_RUN) --arch "$(MODEL)" --ratio $(MAE_RATIO) --epochs $(MAE_EPOCHS) --seed $(SEED) \
	    --val $(WORK)/mae/test-val.tsr; \
	  $(PIPE_OK) || { rm -f $@; exit 1; }

pretrain: $(MAE_RUN)/encoder.ckpt

# The submission flow's pretraining (make submission-pretrain): one
# encoder for every fold's model, learnt from the test tiles alone (but
# the first MAE_VAL, whose loss the log reports), so that no fold's
# out-of-fold score has seen its own tiles, even unlabelled. PRETRAIN=no
# starts the folds from random weights instead (PRETRAIN, SUB_INIT:
# common.mk, as train.mk's rules name them).
SUB_MAE_EPOCHS ?= 10

$(SUB)/mae-val.tsr: $(SUB)/test-ids.txt | $(B)/tgs-stack25d
	head -n $(MAE_VAL) $< > $@.ids
	$(B)/tgs-stack25d -q --images $(DATA)/test/images $(STACK_FLAGS) --ids $@.ids -o $@
$(SUB)/mae-pool.tsr: $(SUB)/test-ids.txt | $(B)/tgs-stack25d
	tail -n +$$(( $(MAE_VAL) + 1 )) $< > $@.ids
	test -s $@.ids || { echo "make: MAE_VAL=$(MAE_VAL) leaves no test tiles to pretrain on" >&2; exit 1; }
	$(B)/tgs-stack25d -q --images $(DATA)/test/images $(STACK_FLAGS) --ids $@.ids -o $@

$(eval $(call SETTINGS,$(SUB)/mae.cfg,$(SUB_MODEL) | $(SUB_MAE_EPOCHS) $(MAE_RATIO) $(SEED)))
$(SUB)/mae/encoder.ckpt: $(SUB)/mae-pool.tsr $(SUB)/mae-val.tsr $(SUB)/mae.cfg | $(B)/tgs-augment $(B)/tgs-mae
	rm -rf $(@D)
	$(B)/tgs-augment --train --size 112 --epochs $(SUB_MAE_EPOCHS) --shuffle --seed $(SEED) -q $< \
	  | $(B)/tgs-mae -o $(@D) --threads $(THREADS) --arch "$(SUB_MODEL)" --ratio $(MAE_RATIO) --epochs $(SUB_MAE_EPOCHS) --seed $(SEED) \
	    --val $(SUB)/mae-val.tsr; \
	  $(PIPE_OK) || { rm -f $@; exit 1; }
	@tail -n 1 $(@D)/log.csv | awk -F, '{ printf "pretrain: reconstruction loss %s (val %s) after %s epochs\n", $$4, $$5, $$1 }'

.PHONY: submission-pretrain
submission-pretrain: $(SUB_INIT)
