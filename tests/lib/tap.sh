# shellcheck shell=sh
# tests/lib/tap.sh - TAP output for every shell test (sourced, never run;
# POSIX sh): the one vocabulary they print results with. Sourced by
# tests/tools/lib.sh, tests/lib/mount.sh (so tests/mount/lib.sh and
# tests/fsx/fsx-mount-lib.sh), tests/fsx/lib.sh and bench/lib.sh.
#
#   ok STATUS DESC          one test: passes when STATUS is 0; a failing one
#                           whose DESC carries the TODO directive ("DESC #
#                           TODO REASON", a known failure) is not counted
#   is GOT WANT DESC        passes when the two strings are equal
#   like TEXT REGEX DESC    passes when TEXT matches REGEX (grep -Ei)
#   check DESC CMD...       passes when CMD succeeds
#   skip DESC               one skipped test
#   skip_all REASON         the plan "1..0 # SKIP REASON" and exit 0 (before
#                           any test)
#   diag TEXT               a comment line
#   bail TEXT               "Bail out!" and exit 1
#   show_file FILE [LINES]  the first LINES (30) lines of FILE as comments
#   sub_tap CMD...          run CMD (in $T when it is set) and number the
#                           unnumbered lines it prints ("ok - DESC", "not ok -
#                           DESC", "skip - DESC", comments pass through) into
#                           this stream: what tests/lib/tap.py and
#                           tests/lib/tap.h (tap_unnumbered) print. CMD exiting
#                           non-zero without a failed line is one failure.
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
		case $2 in
		*" # TODO"*) ;; # a known failure (TAP's TODO directive): not counted
		*) tap_failed=$((tap_failed + 1)) ;;
		esac
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

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
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

sub_tap() {
	_st_before=$tap_failed
	_st_status=""
	if ! _st_fifo=$(mktemp -u "${TMPDIR:-/tmp}/sub_tap.XXXXXX") ||
		! mkfifo -m 600 "$_st_fifo"; then
		bail "sub_tap: cannot make a FIFO"
	fi
	# CMD keeps this shell's stdin (an asynchronous command would get /dev/null).
	{ (cd "${T:-.}" && "$@" 2>&1; echo "#sub-exit $?") <&3 3<&- >"$_st_fifo" & } 3<&0
	_st_pid=$!
	while IFS= read -r _st_line; do
		case $_st_line in
		"ok - "*) ok 0 "${_st_line#ok - }" ;;
		"not ok - "*) ok 1 "${_st_line#not ok - }" ;;
		"skip - "*) skip "${_st_line#skip - }" ;;
		"#sub-exit "*) _st_status=${_st_line#\#sub-exit } ;;
		*) echo "$_st_line" ;;
		esac
	done <"$_st_fifo"
	wait "$_st_pid"
	rm -f "$_st_fifo"
	if [ "$_st_status" != 0 ] && [ "$tap_failed" = "$_st_before" ]; then
		ok 1 "$(basename "$1") ${2:-} exited with status $_st_status"
	fi
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" = 0 ]
	exit $?
}
