# shellcheck shell=bash
# tests/mount/loadlib.sh - what the load tests (tests/mount/flood.sh,
# tests/mount/soak.sh) share: a mount retuned by another process while a
# workload runs, watched so that a hung daemon fails the test instead of
# hanging it. Sourced after tests/mount/lib.sh, never run.
#
# Interface (LD_MP is the mount, LD_ANSWER the bound in seconds):
#   ld_init MOUNTPOINT       set LD_MP, its pid ($LD_PID) and FUSE connection
#   ld_ctl ARGS...           foliofs-ctl on LD_MP under timeout(1)
#   ld_rss_kb                the daemon's VmRSS in KiB
#   ld_threads               the daemon's thread count
#   ld_counters              "NAME=VALUE ..." of the cache's counters named
#                            in LD_COUNTERS (from foliofs-ctl stats)
#   ld_stat NAME             one figure of foliofs-ctl stats
#   ld_settle                foliofs-ctl sync, then drop-caches
#   ld_save_settings / ld_restore_settings   the tunables the changer moves
#   ld_changer PERIOD CMD... (in the background) foliofs-ctl CMD after CMD,
#                            round and round, PERIOD seconds apart, until
#                            $T/stop exists; failures to $T/changer.fail,
#                            the count to $T/changer.count
#   ld_changer_ok            the TAP line: every command succeeded
#   ld_watch PID             until PID exits, every second: stat of the
#                            mount and foliofs-ctl stats must answer within
#                            LD_ANSWER s; at the first that does not, abort
#                            the FUSE connection (everything waiting on the
#                            daemon then fails at once); sets $ld_late,
#                            $ld_probes, $ld_max_ms and prints the TAP line
#   ld_no_asan               true when the daemon is not built with ASan

LD_ANSWER=${LD_ANSWER:-30}
LD_COUNTERS="nr_file_pages nr_dirty nr_writeback PoolResident fs_inodes_cached pool_total_size"
LD_SETTINGS="dirty_bytes dirty_background_bytes dirty_ratio dirty_background_ratio readahead cache_size"

ld_init() {
	LD_MP=$1
	LD_PID=$(mt_pid "$LD_MP")
	LD_CONN=$(awk -v mp="$LD_MP" '$5 == mp { split($3, d, ":"); print d[2] }' \
		/proc/self/mountinfo)
}

ld_ctl() {
	timeout -k 5 "$LD_ANSWER" "$CTL" "$LD_MP" "$@"
}

ld_rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$LD_PID/status"
}

ld_threads() {
	awk '$1 == "Threads:" { print $2 }' "/proc/$LD_PID/status"
}

ld_stat() {
	ld_ctl stats | awk -v k="$1" '$1 == k || $1 == k ":" { print $2; exit }'
}

ld_counters() {
	local s c line=""
	s=$(ld_ctl stats) || return 1
	for c in $LD_COUNTERS; do
		line="$line $c=$(printf '%s\n' "$s" | awk -v k="$c" '$1 == k || $1 == k ":" { print $2; exit }')"
	done
	echo "${line# }"
}

ld_settle() {
	ld_ctl sync >/dev/null && ld_ctl drop-caches >/dev/null
}

ld_save_settings() {
	local k
	for k in $LD_SETTINGS; do
		eval "ld_orig_$k=\$(ld_ctl get $k)"
	done
}

# Of each bytes/ratio pair the one in force is non-zero: set only those.
ld_restore_settings() {
	local k v
	for k in $LD_SETTINGS; do
		eval "v=\$ld_orig_$k"
		[ "$v" = 0 ] && continue
		ld_ctl set "$k=$v" >/dev/null || ok 1 "restore $k=$v"
	done
	# shellcheck disable=SC2154 # (set by ld_save_settings)
	is "$(ld_ctl get cache_size)" "$ld_orig_cache_size" "settings restored (cache_size $ld_orig_cache_size)"
}

ld_changer() {
	local period=$1 n=0 cmd
	shift
	rm -f "$T/stop" "$T/changer.fail"
	while [ ! -e "$T/stop" ]; do
		cmd=${*:$((n % $# + 1)):1}
		# shellcheck disable=SC2086 # the words of the command
		if ! ld_ctl $cmd >/dev/null 2>"$T/changer.err"; then
			echo "foliofs-ctl $cmd failed: $(head -c 200 "$T/changer.err")" >>"$T/changer.fail"
		fi
		n=$((n + 1))
		sleep "$period"
	done
	echo "$n" >"$T/changer.count"
}

ld_changer_ok() {
	if [ -s "$T/changer.fail" ]; then
		ok 1 "every foliofs-ctl set and drop-caches succeeded"
		show_file "$T/changer.fail" 10
	else
		ok 0 "every foliofs-ctl set and drop-caches succeeded ($(cat "$T/changer.count") commands)"
	fi
}

ld_abort() {
	[ -n "$LD_CONN" ] && [ -w "/sys/fs/fuse/connections/$LD_CONN/abort" ] &&
		echo 1 >"/sys/fs/fuse/connections/$LD_CONN/abort"
}

ld_watch() {
	local probe s r ms
	ld_late=0
	ld_probes=0
	ld_max_ms=0
	while pid_alive "$1"; do
		for probe in stat stats; do
			s=$(date +%s%N)
			if [ "$probe" = stat ]; then
				timeout -k 5 "$LD_ANSWER" stat "$LD_MP" >/dev/null 2>&1
			else
				ld_ctl stats >/dev/null 2>&1
			fi
			r=$?
			ms=$((($(date +%s%N) - s) / 1000000))
			ld_probes=$((ld_probes + 1))
			[ "$ms" -gt "$ld_max_ms" ] && ld_max_ms=$ms
			if [ "$r" != 0 ]; then
				ld_late=$((ld_late + 1))
				diag "the $probe probe failed or took over $LD_ANSWER s (exit $r, $ms ms)"
			fi
		done
		if [ "$ld_late" -gt 0 ]; then
			diag "the daemon stopped answering: aborting the FUSE connection $LD_CONN"
			ld_abort
			break
		fi
		sleep 1
	done
	ok "$ld_late" "the daemon answered all $ld_probes probes (stat of the mount, foliofs-ctl stats) within $LD_ANSWER s; slowest $ld_max_ms ms"
}

ld_no_asan() {
	! ldd "$FOLIOFS" 2>/dev/null | grep -q libasan
}
