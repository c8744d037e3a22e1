/*
 * tests/lib/cachefix.c - the cache unit tests' fixture: device, cache,
 * testfs files, model and byte checks (see cachefix.h).
 */
#include "config.h"

#include "tests/lib/cachefix.h"

#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "tests/lib/tap.h"

void fx_file_init(struct fx *fx, struct testfile *f, unsigned blkbits, uint64_t off, uint64_t bytes)
{
	int err = testfile_init(f, fx->cache, fx->dev, blkbits, off >> blkbits, bytes >> blkbits);

	if (err)
		BAIL("testfile_init: %d", err);
}

/* Files over consecutive regions, with testfs's a_ops as @p overrides them. */
static void fx_files_init(struct fx *fx, const struct fx_params *p)
{
	fx->aops = testfs_aops;
	if (p->map_blocks)
		fx->aops.map_blocks = p->map_blocks;
	if (p->dirty_notify)
		fx->aops.dirty_notify = p->dirty_notify;
	if (p->nfiles > FX_MAX_FILES)
		BAIL("%u files: at most %d", p->nfiles, FX_MAX_FILES);
	for (unsigned i = 0; i < p->nfiles; i++) {
		struct testfile *f = &fx->f[i];

		fx_file_init(fx, f, fx->blkbits, fx->file_off + i * fx->file_bytes, fx->file_bytes);
		f->mapping.a_ops = &fx->aops;
		if (p->allocated) {
			memset(f->alloc, 1, fx->file_bytes >> fx->blkbits);
			atomic_store(&f->mapping.i_size, fx->file_bytes);
		}
	}
	fx->nfiles = p->nfiles;
}

void fx_setup(struct fx *fx, const struct fx_params *p)
{
	int err;

	memset(fx, 0, sizeof(*fx));
	fx->blkbits = p->blkbits ? p->blkbits : 12;
	fx->bs = 1U << fx->blkbits;
	fx->file_off = p->file_off;
	fx->file_bytes = p->file_bytes;
	err = bdev_mem_create(p->dev_bytes, p->lbs ? p->lbs : 512, &fx->mem);
	if (err)
		BAIL("bdev_mem_create: %d", err);
	fx->dev = fx->mem;
	if (p->faulty && (err = bdev_faulty_create(fx->mem, &fx->dev, &fx->ctl)))
		BAIL("bdev_faulty_create: %d", err);
	err = cache_create(&p->cache, &fx->cache);
	if (err)
		BAIL("cache_create: %d", err);
	fx_files_init(fx, p);
	if (p->model && !(fx->model = calloc(1, p->file_bytes)))
		BAIL("out of memory");
	if (p->dev_mapping && (err = mapping_init_bdev(&fx->bm, fx->cache, fx->dev, fx->blkbits)))
		BAIL("mapping_init_bdev: %d", err);
	fx->has_bm = p->dev_mapping;
}

void fx_put_files(struct fx *fx)
{
	cache_flusher_stop(fx->cache);
	for (unsigned i = 0; i < fx->nfiles; i++)
		testfile_destroy(&fx->f[i]);
	fx->nfiles = 0;
	if (fx->has_bm)
		mapping_destroy(&fx->bm);
	fx->has_bm = false;
}

void fx_destroy(struct fx *fx)
{
	cache_destroy(fx->cache);
	bdev_close(fx->dev); /* the wrapper closes the RAM device too */
	free(fx->model);
	fx->model = NULL;
}

void fx_teardown(struct fx *fx, unsigned what)
{
	struct cache_mem mi;

	fx_put_files(fx);
	rcu_barrier();
	cache_mem_info(fx->cache, &mi);
	if (what & FX_PAGES)
		is_u64(mi.pages_in_use, 0, "teardown: no page in use");
	if (what & FX_MAPPINGS)
		is_u64(mi.mappings, 0, "teardown: no mapping");
	if (what & FX_HEADS)
		is_u64(mi.buffer_heads, 0, "teardown: no buffer head");
	if (what & FX_NODES)
		is_u64(mi.xa_nodes, 0, "teardown: no xarray node");
	if (what & FX_METADATA)
		is_u64(mi.metadata_bytes, 0, "teardown: no metadata bytes");
	if (what & FX_FILE_PAGES)
		is_u64(cache_stat(fx->cache, NR_FILE_PAGES), 0, "teardown: NR_FILE_PAGES 0");
	if (what & FX_SHADOWS)
		is_u64(cache_stat(fx->cache, NR_SHADOWS), 0, "teardown: NR_SHADOWS 0");
	if (what & FX_DIRTY)
		is_u64(cache_stat(fx->cache, NR_DIRTY), 0, "teardown: NR_DIRTY 0");
	fx_destroy(fx);
	rcu_barrier();
	is_int(xa_nodes_live(), 0, "no xarray node alive after destroy and rcu_barrier");
}

void fx_fill(unsigned char *p, uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = fx_pat(off + i, seed);
}

void fx_write(struct fx *fx, uint64_t pos, size_t len, unsigned seed)
{
	unsigned char *buf = malloc(len);
	ssize_t n;

	if (!buf)
		BAIL("out of memory");
	fx_fill(buf, pos, len, seed);
	n = filemap_write(&fx->f[0].mapping, buf, len, pos);
	if (n != (ssize_t)len)
		BAIL("filemap_write returned %zd", n);
	memcpy(fx->model + pos, buf, len);
	free(buf);
}

bool fx_dev_has(struct fx *fx, uint64_t off, const void *want, size_t len)
{
	unsigned char *buf = malloc(len);
	bool same;

	if (!buf || bdev_read(fx->mem, off, buf, len))
		BAIL("device read failed");
	same = memcmp(buf, want, len) == 0;
	free(buf);
	return same;
}

bool fx_dev_matches(struct fx *fx, uint64_t pos, size_t len)
{
	return fx_dev_has(fx, fx->file_off + pos, fx->model + pos, len);
}

bool fx_page_flag(struct fx *fx, uint64_t index, enum pageflags bit)
{
	struct page *page = find_get_page(&fx->f[0].mapping, index);
	bool set;

	if (!page)
		return false;
	set = page_test(page, bit);
	put_page(page);
	return set;
}
