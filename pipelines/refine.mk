# pipelines/refine.mk: the uncertainty-guided refiner (make submission-refine).
#
# tgs-refine learns the mask from the tile, the model's 'prob' and the
# spread of its passes, on out-of-fold predictions. Its own figure must be
# out-of-fold too, so it is cross-fitted on two halves of the folds: the
# refiner of half a (even folds) refines half b's predictions, and the
# other way round (pred/oof-a.refined.tsr, oof-b.refined.tsr); a third,
# trained on both halves, refines the test predictions. submit.mk uses the
# refined predictions only where they score better out of fold (as
# measured in RESULTS.md, 640 tiles were too few for it to win). A half is
# its folds' files through cat (uncertainty.mk's OOF_A, OOF_B).
REFINE_FLAGS ?= --epochs 12 --seed $(SEED)

$(eval $(call SETTINGS,$(SUB)/refine.cfg,$(REFINE_FLAGS)))
# refine/a on half a, refine/b on half b, refine/all on both; no --val:
# the choice of epoch would be made on the tiles it then scores
REFINE_TRAIN = rm -rf $(@D) && cat $(filter %.oof.tsr,$^) | \
	$(B)/tgs-refine train -q --threads $(THREADS) -o $(@D) $(REFINE_FLAGS) -
$(SUB)/refine/a/last.ckpt: $(OOF_A) $(SUB)/refine.cfg | $(B)/tgs-refine
	$(REFINE_TRAIN)
$(SUB)/refine/b/last.ckpt: $(OOF_B) $(SUB)/refine.cfg | $(B)/tgs-refine
	$(REFINE_TRAIN)
$(SUB)/refine/all/last.ckpt: $(OOF) $(SUB)/refine.cfg | $(B)/tgs-refine
	$(REFINE_TRAIN)

# each half by the refiner of the other
REFINE_APPLY = cat $(filter %.oof.tsr,$^) | $(B)/tgs-refine apply -q --threads $(THREADS) -m $< -o $@ -
$(SUB)/pred/oof-a.refined.tsr: $(SUB)/refine/b/last.ckpt $(OOF_A) | $(B)/tgs-refine
	$(REFINE_APPLY)
$(SUB)/pred/oof-b.refined.tsr: $(SUB)/refine/a/last.ckpt $(OOF_B) | $(B)/tgs-refine
	$(REFINE_APPLY)
$(SUB)/pred/test.refined.tsr: $(SUB)/refine/all/last.ckpt $(SUB)/pred/test.tsr | $(B)/tgs-refine
	$(B)/tgs-refine apply -q --threads $(THREADS) -m $< -o $@ $(SUB)/pred/test.tsr

.PHONY: submission-refine
submission-refine: $(SUB)/pred/oof-a.refined.tsr $(SUB)/pred/oof-b.refined.tsr $(SUB)/pred/test.refined.tsr
