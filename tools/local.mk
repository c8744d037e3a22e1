# tools/: mkfs, fsck, ctl and fsx. Each tool keeps its rules in its own fragment.
include tools/fsx.mk
include tools/format.mk
EXTRA_DIST += tools/setup.sh tools/test-summary.sh
