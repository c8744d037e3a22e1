#!/bin/bash
# bench/metadata.sh - the metadata benchmark: create, stat and unlink
# BENCH_FILES (default 100,000) empty files in one directory on foliofs
# (cache=daemon, default cache_size) and on fuse2fs (defaults), with the
# time per operation at 1,000, 10,000 and 100,000 entries to show whether
# lookup cost grows with the directory (bench/metadata.py does the work).
# Also the daemon's peak RSS (VmHWM) over the run. Run from the build
# directory (`make bench` does). Prints a markdown table, also written to
# bench/metadata.md in the build directory.
#
# Environment: BENCH_FILES=100000, BENCH_TARGETS="foliofs fuse2fs",
# BENCH_IMAGE_SIZE=4G, BENCH_TMPDIR=/var/tmp, BENCH_META_BUDGET=120: seconds
# after which the whole-directory stat and unlink passes stop (fuse2fs's
# directories are scanned linearly: its full passes over 100,000 entries take
# far longer); the table then gives the rate over the entries done.
set -u
. "$(dirname "$0")/lib.sh"

N=${BENCH_FILES:-100000}
BUDGET=${BENCH_META_BUDGET:-120}
TARGETS=${BENCH_TARGETS:-foliofs fuse2fs}
case $TARGETS in *foliofs* | *fuse2fs*) ;; *) TARGETS="foliofs fuse2fs" ;; esac
export BENCH_IMAGE_SIZE=${BENCH_IMAGE_SIZE:-4G}
OUT=$B_BUILD/bench

bt_setup metadata.sh
mkdir -p "$OUT"
start=$(date -u '+%Y-%m-%d %H:%M UTC')
load0=$(bt_load)
for t in foliofs fuse2fs; do
	case " $TARGETS " in *" $t "*) ;; *) continue ;; esac
	mp=$BT/mnt-$t
	mt_diag "$t: $N files ($(bt_load))"
	if [ $t = foliofs ]; then
		bt_mount_foliofs "$BT/foliofs.img" "$mp" cache=daemon
	else
		bt_mount_fuse2fs "$BT/ext4.img" "$mp"
	fi || { mt_diag "$t: cannot mount; skipped"; continue; }
	pid=$(mt_pid "$mp")
	python3 "$B_SRC/bench/metadata.py" "$mp/dir" "$N" 1000,10000,100000 "$BUDGET" >"$BT/$t.json" ||
		mt_diag "$t: metadata.py failed"
	bt_hwm "$pid" >"$BT/$t.rss"
	[ $t = foliofs ] && "$CTL" "$mp" stats >"$OUT/metadata-foliofs.stats" 2>&1
	bt_umount "$mp" || mt_diag "$t: unmount failed"
	rm -f "$BT"/*.img
done
load1=$(bt_load)
python3 - "$BT" "$N" "$start" "$load0" "$load1" <<'EOF' | tee "$OUT/metadata.md"
import json, os, sys
bt, n, start, l0, l1 = sys.argv[1:6]
res = {}
for t in ('foliofs', 'fuse2fs'):
    try:
        res[t] = json.load(open(os.path.join(bt, t + '.json')))
        res[t]['rss'] = int(open(os.path.join(bt, t + '.rss')).read() or 0)
    except (OSError, ValueError):
        pass
ts = list(res)
print('metadata, %s files in one directory, %s; %s before, %s after\n' % (n, start, l0, l1))
print('| measure | ' + ' | '.join(ts) + (' | foliofs/fuse2fs |' if len(ts) == 2 else ' |'))
print('|---|' + '---:|' * (len(ts) + (len(ts) == 2)))
def row(name, vals, fmt):
    r = [fmt % v if v is not None else '' for v in vals]
    if len(vals) == 2 and None not in vals and vals[1]:
        r.append('%.2f' % (vals[0] / vals[1]))
    print('| %s | %s |' % (name, ' | '.join(r)))
row('create, total s', [res[t].get('create_s') for t in ts], '%.2f')
for k, name in (('stat', 'stat (cold dentries)'), ('unlink', 'unlink')):
    done = [res[t].get(k + '_done', res[t]['n']) for t in ts]
    if all(x == res[t]['n'] for x, t in zip(done, ts)):
        row(name + ', total s', [res[t].get(k + '_s') for t in ts], '%.2f')
    else:
        print('| %s, files done in the time budget | %s |' % (name, ' | '.join(
            format(x, ',') for x in done)))
    row(name + ', whole pass, us/op', [res[t][k + '_s'] / x * 1e6 for t, x in zip(ts, done)],
        '%.1f')
for k, name in (('create_us', 'create'), ('lookup_us', 'stat (lookup)'),
                ('unlink_us', 'unlink')):
    for cp in ('1000', '10000', '100000'):
        vals = [res[t][k].get(cp) for t in ts]
        if all(v is None for v in vals):
            continue
        row('%s at %s entries, us/op' % (name, format(int(cp), ',')), vals, '%.1f')
row('daemon peak RSS, MiB', [res[t]['rss'] / 1024 for t in ts], '%.0f')
EOF
