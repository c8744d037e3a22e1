#!/usr/bin/env bash
# tools/test-summary.sh [BUILDDIR] - one closing line from automake's .trs files:
# "N passed, N failed, N skipped" (counting TAP test points).
dir=${1:-.}
pass=0 fail=0 skip=0
while IFS= read -r line; do
	case "$line" in
	":test-result: PASS"* | ":test-result: XFAIL"*) pass=$((pass + 1)) ;;
	":test-result: FAIL"* | ":test-result: XPASS"* | ":test-result: ERROR"*) fail=$((fail + 1)) ;;
	":test-result: SKIP"*) skip=$((skip + 1)) ;;
	esac
done < <(find "$dir" -name '*.trs' -exec cat {} + 2>/dev/null)
echo "tests: $pass passed, $fail failed, $skip skipped"
