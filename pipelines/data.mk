# pipelines/data.mk: tiles on disk -> sample streams, the first stage of
# every pipeline. Included by the top Makefile; later stages (pretrain,
# train, uncertainty, refine, submit) add their own .mk files and take
# $(WORK)/train.tsr and $(WORK)/test.tsr from here.
#
#   make data                 both streams, one channel per tile
#   make data-check           stack | encode must reproduce $(DATA)/train.csv
#   make DATA=/path WORK=dir  another copy of the data, another work folder

DATA      ?= ../shared/data/tgs
WORK      ?= work
# none: the tile alone. depth (3 channels: the tiles before and after in
# depth order) scored 0.7764 against none's 0.7820 on fold 0 with the
# make-train recipe, and learnt slower: tiles of similar depth are not
# neighbours in the survey (true neighbours are for a later stage).
NEIGHBORS ?= none
STACK_FLAGS ?= --depths $(DATA)/depths.csv --neighbors $(NEIGHBORS)

.PHONY: data data-check

data: $(WORK)/train.tsr $(WORK)/test.tsr

# Tools are order-only prerequisites here and in the later stages: a
# rebuilt binary does not remake the streams (and, through them, hours of
# training). After a change to what a tool writes: make -B data.
$(WORK)/train.tsr: | $(B)/tgs-stack25d
	@mkdir -p $(@D)
	$(B)/tgs-stack25d --images $(DATA)/train/images --masks $(DATA)/train/masks $(STACK_FLAGS) -o $@

$(WORK)/test.tsr: | $(B)/tgs-stack25d
	@mkdir -p $(@D)
	$(B)/tgs-stack25d --images $(DATA)/test/images $(STACK_FLAGS) -o $@

data-check: $(WORK)/train.tsr $(B)/tgs-rle
	$(B)/tgs-rle encode -o $(WORK)/train-check.csv $(WORK)/train.tsr
	@tail -n +2 $(DATA)/train.csv | LC_ALL=C sort > $(WORK)/want.tmp
	@tail -n +2 $(WORK)/train-check.csv | LC_ALL=C sort | cmp - $(WORK)/want.tmp && echo "data-check: train.csv reproduced"
	@rm -f $(WORK)/want.tmp

# The submission flow's copy, remade when DATA or STACK_FLAGS change (so
# make submission DATA=elsewhere never reuses another dataset's models);
# the test ids, sorted, are what submission.csv must hold.
$(eval $(call SETTINGS,$(SUB)/data.cfg,$(DATA) $(STACK_FLAGS)))
$(SUB)/train.tsr: $(SUB)/data.cfg | $(B)/tgs-stack25d
	$(B)/tgs-stack25d -q --images $(DATA)/train/images --masks $(DATA)/train/masks $(STACK_FLAGS) -o $@
$(SUB)/test.tsr: $(SUB)/data.cfg | $(B)/tgs-stack25d
	$(B)/tgs-stack25d -q --images $(DATA)/test/images $(STACK_FLAGS) -o $@
$(SUB)/test-ids.txt: $(SUB)/data.cfg
	ls $(DATA)/test/images | sed -n 's/\.png$$//p' | LC_ALL=C sort > $@
	test -s $@ || { echo "make: no test images in $(DATA)/test/images" >&2; rm -f $@; exit 1; }
