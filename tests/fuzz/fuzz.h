/*
 * tests/fuzz/fuzz.h - the structure-aware image fuzzer (tests/fuzz/fuzzimg):
 * what its parts offer each other.
 *
 *   seed.c      seed images: mkfs.foliofs, then a populated tree made through
 *               the filesystem library (fs_mount, no FUSE), and a second
 *               image stopped with committed transactions in its journal
 *   mutate.c    the catalogue of an image's structures (every field of the
 *               superblock, descriptors, bitmaps, inodes, extent nodes,
 *               directory nodes, xattr blocks and the journal, with what
 *               kind of value each holds) and the mutations, drawn from a
 *               seed number, that keep checksums valid
 *   exercise.c  one mutated image through the library: mount, walk, read,
 *               write, create, remove, rename, setxattr, sync, unmount
 *   fuzzimg.c   the commands: seed, mutate, run (images in child processes,
 *               with timeouts, then fsck -n and -y), replay, mkfs
 *
 * Invariants: a mutation is a pure function of the seed image and the
 * image number (fuzz_mutate), so any image a run reports can be rebuilt from
 * the seed image and its number; the seed images themselves are kept next to
 * a failing image, since allocation order in a populated image depends on
 * the cache's background threads.
 */
#ifndef FOLIO_TESTS_FUZZ_H
#define FOLIO_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* splitmix64: the fuzzer's only source of randomness. */
struct fz_rng {
	uint64_t s;
};
static inline uint64_t fz_next(struct fz_rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}
/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t fz_below(struct fz_rng *r, uint64_t n)
{
	return n ? fz_next(r) % n : 0;
}

/* ---- mutate.c ---- */

struct fz_cat; /* the catalogue of one seed image */

/* Catalogue @img (@size bytes, a valid foliofs image). NULL when it cannot be
 * parsed (an error on stderr). */
struct fz_cat *fz_cat_build(const uint8_t *img, size_t size);
void fz_cat_free(struct fz_cat *c);
/* Counts for the report: regions (structures) and fields catalogued. */
void fz_cat_counts(const struct fz_cat *c, unsigned *regions, unsigned *fields);
/* Apply the mutations of image @num to @img (a copy of the catalogued
 * image); a description of each goes to @log (may be NULL) as lines. */
void fz_mutate(const struct fz_cat *c, uint64_t num, uint8_t *img, size_t size, char *log,
	       size_t loglen);

/* ---- seed.c ---- */

/* Build the seed images in @dir (seed0.img: 1 KiB blocks, two groups,
 * unmounted cleanly; seed1.img: 1 KiB blocks, stopped with committed
 * transactions in the journal and an orphan; seed2.img: 4 KiB blocks).
 * @tools: the directory holding mkfs.foliofs. 0 or -1 (message on stderr). */
int fz_seed_build(const char *dir, const char *tools);
#define FZ_NSEEDS 3

/* ---- exercise.c ---- */

/* What one image did in the library. */
struct fz_xstats {
	unsigned refused;    /* fs_mount refused the image */
	unsigned eio;	     /* operations that failed with EIO or EUCLEAN */
	unsigned other;	     /* operations that failed with another error */
	unsigned ok;	     /* operations that succeeded */
	unsigned went_ro;    /* the filesystem switched itself read-only */
	unsigned umount_err; /* fs_unmount returned an error */
};

/* Mount @image with the library (errors=continue when @cont, else
 * remount-ro), exercise it, unmount; @msg gets fs_mount's refusal. Returns 0
 * (whatever the operations returned). */
int fz_exercise(const char *image, bool cont, struct fz_xstats *st, char *msg, size_t msglen);

#endif /* FOLIO_TESTS_FUZZ_H */
