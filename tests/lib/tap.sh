# shellcheck shell=sh
# tests/lib/tap.sh - TAP output for the shell tests (sourced, never run; POSIX
# sh). Sourced by tests/tools/lib.sh, tests/mount/lib.sh, tests/fsx/lib.sh and
# the scripts that need nothing more.
#
#   ok STATUS DESC          one test: passes when STATUS is 0
#   is GOT WANT DESC        passes when the two strings are equal
#   like TEXT REGEX DESC    passes when TEXT matches REGEX (grep -Ei)
#   check DESC CMD...       passes when CMD succeeds
#   skip DESC               one skipped test
#   diag TEXT               a comment line
#   bail TEXT               "Bail out!" and exit 1
#   show_file FILE [LINES]  the first LINES (30) lines of FILE as comments
#   done_testing            prints the plan; exits 1 when a test failed
# State: $tap_n (tests so far), $tap_failed.

tap_n=0
tap_failed=0

ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got '$1', want '$2'"
	fi
}

like() {
	if printf '%s\n' "$1" | grep -Eiq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '%s\n' "$1" | head -n 20 | sed 's/^/#   /'
		echo "#   does not match /$2/"
	fi
}

check() {
	_tap_desc=$1
	shift
	if "$@"; then ok 0 "$_tap_desc"; else ok 1 "$_tap_desc"; fi
}

skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP $1"
}

diag() {
	echo "# $*"
}

bail() {
	echo "Bail out! $*"
	exit 1
}

show_file() {
	[ -f "$1" ] && head -n "${2:-30}" "$1" | sed 's/^/#   /'
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" = 0 ]
	exit $?
}
