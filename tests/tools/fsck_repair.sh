#!/bin/bash
# tests/tools/fsck_repair.sh - fsck.foliofs repairs every damage it knows:
# images from tests/tools/mkimage broken one way at a time (1 KiB blocks,
# the deepest trees). For each, `fsck -p` exits 1 when preening fixes it
# and 4 (naming `-y`) when it does not; then `fsck -y` exits 1 (or 0 after
# a preen that fixed everything); a second `fsck -n` exits 0; the image
# mounts with the daemon and the files that survived read back with the
# bytes mkimage wrote (a file whose extent was removed reads zeros there);
# after the unmount fsck is still clean. Operational errors exit 8.
# The inode numbers ($small, $a, ...) come from mkimage through eval.
# shellcheck disable=SC2154
. "$(dirname "$0")/../lib/mount.sh"

MKIMAGE=$builddir/tests/tools/mkimage
[ -x "$MKIMAGE" ] || bail "$MKIMAGE is not built"
mt_tmpdir "${TMPDIR:-/tmp}" foliofs-repair
img=$T/img
mp=$T/mnt

# Expected contents: mkimage fills the i-th block of a file with 'a' + i % 26.
head -c 100 /dev/zero | tr '\0' a >"$T/small.want"
head -c 100 /dev/zero >"$T/small.zero"
head -c 10 /dev/zero | tr '\0' a >"$T/hard.want"
: >"$T/frag.want"
for ((i = 0; i < 40; i++)); do
	l=$(printf "\\$(printf '%03o' $((97 + i % 26)))")
	head -c 1024 /dev/zero | tr '\0' "$l" >>"$T/frag.want"
	head -c 1024 /dev/zero >>"$T/frag.want"
done

build() {
	rm -f "$img"
	mt_mkfs "$img" 1024 64M
	ids=$("$MKIMAGE" "$@" "$img") || bail "mkimage $* failed"
	eval "$(printf '%s\n' "$ids" | tr ' -' '\n_')"
}

# same FILE WANT DESC
same() {
	if cmp -s "$1" "$2"; then ok 0 "$3"; else ok 1 "$3"; fi
}

# readback CORRUPTION: mount the repaired image and read the survivors.
readback() {
	local cor=$1
	mt_mount_ok "$img" "$mp" "$cor: mounts after the repair" || return
	case $cor in
	meta | range) same "$mp/small" "$T/small.zero" "$cor: small reads zeros where its extent was" ;;
	*) same "$mp/small" "$T/small.want" "$cor: small reads back" ;;
	esac
	case $cor in
	overlap | order | extdepth)
		is "$(stat -c %s "$mp/frag")" 81920 "$cor: frag keeps its size" ;;
	*) same "$mp/frag" "$T/frag.want" "$cor: frag reads back" ;;
	esac
	same "$mp/hard1" "$T/hard.want" "$cor: hard1 reads back"
	case $cor in
	loop)
		same "$mp/lost+found/#$a/b/c/hard2" "$T/hard.want" \
			"$cor: the loop's directory is in /lost+found with its tree" ;;
	dirlink) ok "$([ -d "$mp/a/b/c" ] && [ ! -e "$mp/b-again" ]; echo $?)" \
		"$cor: the directory keeps the name its parent holds" ;;
	symnul) ok "$([ ! -e "$mp/link-short" ]; echo $?)" "$cor: the unreadable symlink is gone" ;;
	*) is "$(readlink "$mp/link-short")" small "$cor: link-short reads back" ;;
	esac
	n=$(find "$mp/big" -type f | wc -l)
	case $cor in
	hash) is "$n" 299 "$cor: big holds its entries but the bad one" ;;
	idxorder) ok "$((n == 0 || n >= 300))" "$cor: big keeps the entries of its sound nodes ($n)" ;;
	*) is "$n" 300 "$cor: big holds its entries" ;;
	esac
	is "$(stat -c %h "$(find "$mp/big" -type f | head -n1)")" "$n" \
		"$cor: the target's link count is its number of names"
	mt_umount_ok "$mp" "$cor: unmounted"
	mt_fsck_ok "$img" "$cor: fsck clean after the mount"
}

# repair CORRUPTION PREEN-EXIT
repair() {
	local cor=$1 prc=$2
	build -c "$cor"
	run "$FSCK" -p "$img"
	is "$rc" "$prc" "$cor: fsck -p exits $prc"
	if [ "$prc" = 4 ]; then
		like "$out" "left uncorrected; run fsck.foliofs -y" "$cor: -p says to run -y"
		run "$FSCK" -y "$img"
		is "$rc" 1 "$cor: fsck -y exits 1"
	fi
	like "$out" ": fixed" "$cor: repairs are named"
	if [ "$prc" = 1 ]; then
		run "$FSCK" -y "$img"
		is "$rc" 0 "$cor: fsck -y after -p finds nothing"
	fi
	run "$FSCK" -n "$img"
	is "$rc" 0 "$cor: a second fsck -n is clean"
	[ "$rc" = 0 ] || diag "$out"
	readback "$cor"
}

# What -p fixes alone: the orphan of a dirty image, a leaked inode, an
# orphan on a clean image, a bitmap bit.
repair none 1
repair orphanclean 1
repair unlinked 1
repair bitmap 1
# What needs -y.
for cor in overlap meta range order extdepth iblocks hash idxorder dirsize dirfree dirtype \
	nlink loop dirlink dupname xdup acl symnul gd-bbitmap gd-ibitmap gd-itable jinode jsb-loc sb-uuid; do
	repair "$cor" 4
done

# A directory lost with its 2,500 files: -y puts every one in /lost+found,
# whose tree grows past one leaf and one index node (fsck splits nodes as
# the daemon does); the daemon finds them all there and adds to it.
build -c lostmany
run "$FSCK" -y "$img"
is "$rc" 1 "lostmany: fsck -y exits 1"
like "$out" "directory [0-9]+: tree root unusable: directory emptied: fixed" "lostmany: the directory is emptied"
run "$FSCK" -n "$img"
is "$rc" 0 "lostmany: a second fsck -n is clean"
[ "$rc" = 0 ] || diag "$out"
if mt_mount_ok "$img" "$mp" "lostmany: mounts"; then
	is "$(find "$mp/lost+found" -mindepth 1 -maxdepth 1 -name '#*' | wc -l)" 2500 \
		"lostmany: /lost+found holds the 2,500 files"
	nodes=$(($(stat -c %s "$mp/lost+found") / 1024))
	ok "$((nodes > 64 ? 0 : 1))" "lostmany: /lost+found has $nodes nodes: more than one index node holds"
	is "$(stat -c %h "$mp/many")" 2 "lostmany: the emptied directory stays, empty"
	for i in $(seq 1 200); do : >"$mp/lost+found/new-$i" || break; done
	is "$(find "$mp/lost+found" -mindepth 1 -maxdepth 1 | wc -l)" 2700 \
		"lostmany: the daemon adds 200 more names to fsck's tree"
	mt_umount_ok "$mp" "lostmany: unmounted"
	mt_fsck_ok "$img" "lostmany: fsck clean after the mount"
fi

# -p on the image as mkimage leaves it says which orphan it frees.
build
run "$FSCK" -p "$img"
like "$out" "inode $orphan: orphan \(unlinked while open\): freed: fixed" "the orphan is named"
run "$FSCK" -n -v "$img"
like "$out" "state: clean" "the image is clean afterwards"

# A descriptor whose checksum alone is wrong (a byte of its reserved area):
# -p leaves it, -y recomputes it.
build
"$FSCK" -p "$img" >/dev/null
flip_byte "$img" $((1024 + 0x30))
run "$FSCK" -p "$img"
is "$rc" 4 "descriptor checksum: -p leaves it"
run "$FSCK" -y "$img"
is "$rc" 1 "descriptor checksum: -y fixes it"
run "$FSCK" -n "$img"
is "$rc" 0 "descriptor checksum: clean after -y"

# Operational errors and bad options.
run "$FSCK" -p "$T/missing"
is "$rc" 8 "-p on a missing image: exit 8"
run "$FSCK" -p -y "$img"
is "$rc" 8 "-p with -y: exit 8"
like "$out" "only one of -n, -p and -y" "-p with -y: message"

done_testing
