# The uncertainty stage (issue 23): on two trained folds' validation
# tiles, one pass, flip TTA, Monte Carlo dropout (T = 8, 16), a refiner, and the
# decisions (threshold, gate, minimum area) each tuned on the other fold:
# the table of bench/uncertainty.sh. Train the folds first, e.g.
#     make train FOLD=0 && make train FOLD=1 && make uncertainty
# MC dropout needs a model trained with dropout (MODEL="... dropout=0.1").
UNC_A ?= $(WORK)/runs/f0
UNC_B ?= $(WORK)/runs/f1

.PHONY: uncertainty

uncertainty: $(UNC_A)/best.ckpt $(UNC_B)/best.ckpt $(WORK)/val0.tsr $(WORK)/val1.tsr $(B)/tgs-mcdrop $(B)/tgs-eval $(B)/tgs-refine
	@TGS_BIN=$(B) sh bench/uncertainty.sh $(UNC_A) $(WORK)/val0.tsr $(UNC_B) $(WORK)/val1.tsr
