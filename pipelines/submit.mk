# pipelines/submit.mk: from predictions to Kaggle's CSV (make submission).
#
# Out of fold, so every figure is of tiles the choices were not made on:
#  - refined or not: the refined predictions are used only where their
#    cross-fitted out-of-fold mAP beats the unrefined one;
#  - the decisions (threshold, minimum area, presence gate; tgs-eval
#    --tune) tuned on half a are scored on half b and the other way round,
#    the figure reported; those applied to the test tiles are tuned on all
#    the out-of-fold predictions.
# Then tgs-rle encode, and the CSV is checked (the header, one row per
# test tile, the ids those of $(DATA)/test/images) before it is renamed
# into place: a failed check leaves no SUBMISSION.
SUBMISSION ?= submission.csv

.PHONY: submission

OOF_REFINED = $(SUB)/pred/oof-a.refined.tsr $(SUB)/pred/oof-b.refined.tsr
$(SUB)/decisions.txt: $(OOF1) $(OOF) $(OOF_REFINED) | $(B)/tgs-eval
	@set -e; d=$(SUB); trap 'rm -f $$d/decisions.tmp' EXIT; \
	: "mapof DECISIONS FILE...: the mAP and the number of tiles of the files together (DECISIONS may be empty)"; \
	mapof() { dec=$$1; shift; cat "$$@" | $(B)/tgs-eval -q --json $${dec:+--decisions "$$dec"} - | sed -n 's/.*"images":\([0-9]*\),"threshold":[^,]*,"map":\([^,]*\),.*/\2 \1/p' | awk '{ printf "%.4f %d", $$1, $$2 }'; }; \
	tune() { out=$$1; shift; cat "$$@" | $(B)/tgs-eval -q --tune "$$out" - > /dev/null; }; \
	m1=$$(mapof "" $(OOF1)); mu=$$(mapof "" $(OOF)); mr=$$(mapof "" $(OOF_REFINED)); \
	if awk "BEGIN { exit !($${mr% *} > $${mu% *}) }"; then use=refined; else use=plain; fi; \
	if [ $$use = refined ]; then a=$(word 1,$(OOF_REFINED)); b=$(word 2,$(OOF_REFINED)); else a="$(OOF_A)"; b="$(OOF_B)"; fi; \
	tune $$d/decisions-a.txt $$a; tune $$d/decisions-b.txt $$b; \
	ma=$$(mapof $$d/decisions-b.txt $$a); mb=$$(mapof $$d/decisions-a.txt $$b); \
	md=$$(echo "$$ma $$mb" | awk '{ printf "%.4f %d", ($$1 * $$2 + $$3 * $$4) / ($$2 + $$4), $$2 + $$4 }'); \
	tune $$d/decisions.tmp $$a $$b; \
	{ echo "# the out-of-fold mAP of the flow, $${m1#* } labelled tiles in $(FOLDS) folds, each tile scored by the model that did not train on it"; \
	  echo "after train         $${m1% *}   one pass, threshold 0.5"; \
	  echo "after uncertainty   $${mu% *}   $(PRED_FLAGS), threshold 0.5"; \
	  echo "after refine        $${mr% *}   refiner cross-fitted on halves a/b, threshold 0.5 ($$use used)"; \
	  echo "after decisions     $${md% *}   tuned on the other half"; \
	  echo "decisions for the test tiles, tuned on every out-of-fold tile:"; grep -v '^#' $$d/decisions.tmp | sed 's/^/    /'; } > $$d/report.txt; \
	echo "$$use" > $$d/use.txt; \
	mv $$d/decisions.tmp $@

# The test tiles' refined predictions (a third refiner, on every
# out-of-fold tile) are made only when the refiner won: a submake.
$(SUB)/submission.csv: $(SUB)/decisions.txt $(SUB)/pred/test.tsr $(SUB)/test-ids.txt | $(B)/tgs-rle
	@set -e; d=$(SUB); trap 'rm -f $@.tmp' EXIT; \
	if [ "$$(cat $$d/use.txt)" = refined ]; then \
	  $(MAKE) --no-print-directory $$d/pred/test.refined.tsr; p=$$d/pred/test.refined.tsr; \
	else p=$$d/pred/test.tsr; fi; \
	echo "$(B)/tgs-rle encode -q --decisions $< -o $@.tmp $$p"; \
	$(B)/tgs-rle encode -q --decisions $< -o $@.tmp $$p; \
	[ "$$(head -n 1 $@.tmp)" = id,rle_mask ] || { echo "make: $@: the header is not id,rle_mask" >&2; exit 1; }; \
	tail -n +2 $@.tmp | cut -d, -f1 | LC_ALL=C sort | cmp -s - $$d/test-ids.txt || \
	  { echo "make: $@: the rows are not one per tile of $(DATA)/test/images ($$(($$(wc -l < $@.tmp) - 1)) rows, $$(wc -l < $$d/test-ids.txt) tiles)" >&2; exit 1; }; \
	mv $@.tmp $@

$(SUBMISSION): $(SUB)/submission.csv
	cp $< $@.tmp && mv $@.tmp $@

submission: $(SUBMISSION)
	@cat $(SUB)/report.txt
	@echo "submission: $(SUBMISSION), $$(($$(wc -l < $(SUBMISSION)) - 1)) tiles"
