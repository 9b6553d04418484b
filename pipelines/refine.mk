# pipelines/refine.mk: the uncertainty-guided refiner (make submission-refine).
#
# tgs-refine learns the mask from the tile, the model's 'prob' and the
# spread of its passes, on out-of-fold predictions. Its own figure must be
# out-of-fold too, so it is cross-fitted on two halves of the folds: the
# refiner of half a (even folds) refines half b's predictions, and the
# other way round (pred/oof.refined.tsr); a third, trained on both halves,
# refines the test predictions. submit.mk uses the refined predictions
# only where they score better out of fold (as measured in RESULTS.md,
# 640 tiles were too few for it to win).
REFINE_FLAGS ?= --epochs 12 --seed $(SEED)

$(SUB)/pred/oof-a.tsr: $(FOLDS_A:%=$(SUB)/pred/f%.oof.tsr)
	cat $^ > $@
$(SUB)/pred/oof-b.tsr: $(FOLDS_B:%=$(SUB)/pred/f%.oof.tsr)
	cat $^ > $@

$(eval $(call SETTINGS,$(SUB)/refine.cfg,$(REFINE_FLAGS)))
# no --val: the choice of epoch would be made on the tiles it then scores
$(SUB)/refine/%/last.ckpt: $(SUB)/pred/oof-%.tsr $(SUB)/refine.cfg | $(B)/tgs-refine
	rm -rf $(@D)
	$(B)/tgs-refine train -q --threads $(THREADS) -o $(@D) $(REFINE_FLAGS) $<
$(SUB)/pred/oof-all.tsr: $(SUB)/pred/oof.tsr
	ln -f $< $@ 2>/dev/null || cp $< $@

# each half by the refiner of the other
$(SUB)/pred/oof-a.refined.tsr: $(SUB)/refine/b/last.ckpt $(SUB)/pred/oof-a.tsr | $(B)/tgs-refine
	$(B)/tgs-refine apply -q --threads $(THREADS) -m $< -o $@ $(SUB)/pred/oof-a.tsr
$(SUB)/pred/oof-b.refined.tsr: $(SUB)/refine/a/last.ckpt $(SUB)/pred/oof-b.tsr | $(B)/tgs-refine
	$(B)/tgs-refine apply -q --threads $(THREADS) -m $< -o $@ $(SUB)/pred/oof-b.tsr
$(SUB)/pred/oof.refined.tsr: $(SUB)/pred/oof-a.refined.tsr $(SUB)/pred/oof-b.refined.tsr
	cat $^ > $@
$(SUB)/pred/test.refined.tsr: $(SUB)/refine/all/last.ckpt $(SUB)/pred/test.tsr | $(B)/tgs-refine
	$(B)/tgs-refine apply -q --threads $(THREADS) -m $< -o $@ $(SUB)/pred/test.tsr

.PHONY: submission-refine
submission-refine: $(SUB)/pred/oof.refined.tsr $(SUB)/pred/test.refined.tsr
