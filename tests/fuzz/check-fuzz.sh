#!/bin/sh
# tests/fuzz/check-fuzz.sh - make check-fuzz: the long run of the image
# fuzzer. FUZZ_LONG_IMAGES (default 100000) images from number FUZZ_FIRST
# (default 1000000, past make check's), FUZZ_LONG_MKFS (2000) mkfs command
# lines and FUZZ_LONG_DAEMON (200) images through the daemon, on FUZZ_JOBS
# (2) workers; failing images go to FUZZ_KEEP (default ./fuzz-keep). Prints
# the counts; exits 1 when anything crashed, hung or left a sanitizer report.
top_builddir=${top_builddir:-$(pwd)}
export top_builddir
here=$(dirname "$0")
FUZZ_FIRST=${FUZZ_FIRST:-1000000}
FUZZ_KEEP=${FUZZ_KEEP:-$top_builddir/fuzz-keep}
export FUZZ_FIRST FUZZ_KEEP
start=$(date +%s)
status=0
FUZZ_IMAGES=${FUZZ_LONG_IMAGES:-100000} sh "$here/fuzz.sh" || status=1
FUZZ_MKFS=${FUZZ_LONG_MKFS:-2000} sh "$here/mkfs.sh" || status=1
FUZZ_DAEMON_IMAGES=${FUZZ_LONG_DAEMON:-200} bash "$here/daemon.sh" || status=1
echo "# check-fuzz: $(($(date +%s) - start)) s, $([ $status = 0 ] && echo passed || echo FAILED; )"
exit $status
