/*
 * tests/unit/test_xarray.c - unit tests for cache/xarray.c.
 *
 * Checks: node counts as the tree grows and shrinks; value entries; marks and
 * their propagation; iteration to UINT64_MAX; allocation failure leaving the
 * tree unchanged; a long random run against a sorted-array model (loads, finds
 * with every filter, gang lookups, tag_range, marks, xa_verify()); RCU readers
 * running beside a writer, where every entry names its own index and entries
 * are freed through call_rcu, so a reader can tell a wrong or freed entry; and
 * no node left alive once every tree is destroyed and rcu_barrier() returns.
 *
 * XA_SEED=n in the environment replays a run; the seed is printed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "cache/xarray.h"
#include "tests/lib/tap.h"

#define P2(n) ((uint64_t)1 << (n))

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd(uint64_t n)
{
	return rnd64() % n;
}

/* A fake pointer entry: never dereferenced, aligned, never NULL. */
static void *fake_ptr(uint64_t n)
{
	return (void *)(uintptr_t)((n + 1) << 3);
}

static int store(struct xarray *xa, uint64_t index, void *entry, void **old)
{
	int err;

	xa_lock(xa);
	err = __xa_store(xa, index, entry, old);
	xa_unlock(xa);
	return err;
}

static void *erase(struct xarray *xa, uint64_t index)
{
	void *old;

	xa_lock(xa);
	old = __xa_erase(xa, index);
	xa_unlock(xa);
	return old;
}

static void set_mark(struct xarray *xa, uint64_t index, xa_mark_t mark)
{
	xa_lock(xa);
	__xa_set_mark(xa, index, mark);
	xa_unlock(xa);
}

static void clear_mark(struct xarray *xa, uint64_t index, xa_mark_t mark)
{
	xa_lock(xa);
	__xa_clear_mark(xa, index, mark);
	xa_unlock(xa);
}

static uint64_t tag_range(struct xarray *xa, uint64_t s, uint64_t e, xa_mark_t from, xa_mark_t to,
			  uint64_t limit)
{
	uint64_t n;

	xa_lock(xa);
	n = __xa_tag_range(xa, s, e, from, to, limit);
	xa_unlock(xa);
	return n;
}

static int verify(struct xarray *xa)
{
	int err;

	xa_lock(xa);
	err = xa_verify(xa);
	xa_unlock(xa);
	return err;
}

/* Mismatches inside long loops: counted, the first few described. */
static unsigned long mismatches;

static void mismatch(int line, const char *fmt, ...)
{
	va_list ap;

	if (mismatches++ >= 10)
		return;
	printf("# line %d: ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			mismatch(__LINE__, __VA_ARGS__);                                           \
	} while (0)

/* ---- fixed cases ---- */

/* Node counts as a tree grows from index 0 and shrinks back. */
static void test_shape(void)
{
	struct xarray xa;
	void *old = fake_ptr(99);

	xa_init(&xa);
	ok(xa_empty(&xa) && xa_nr_nodes(&xa) == 0, "new tree is empty");
	ok(xa_load(&xa, 0) == NULL && xa_load(&xa, UINT64_MAX) == NULL, "load from empty tree");
	is_int(store(&xa, 0, fake_ptr(0), &old), 0, "store at 0");
	ok(old == NULL, "no old entry at 0");
	is_u64(xa_nr_nodes(&xa), 1, "index 0 takes one node");
	store(&xa, 63, fake_ptr(63), NULL);
	is_u64(xa_nr_nodes(&xa), 1, "index 63 shares the leaf");
	store(&xa, 64, fake_ptr(64), NULL);
	is_u64(xa_nr_nodes(&xa), 3, "index 64 grows the tree: top and two leaves");
	ok(xa_load(&xa, 0) == fake_ptr(0) && xa_load(&xa, 63) == fake_ptr(63) &&
		   xa_load(&xa, 64) == fake_ptr(64) && xa_load(&xa, 65) == NULL,
	   "loads after growth");
	ok(erase(&xa, 64) == fake_ptr(64), "erase returns the old entry");
	is_u64(xa_nr_nodes(&xa), 1, "erasing 64 frees its leaf and shrinks the top");
	ok(erase(&xa, 64) == NULL, "erase of an empty index returns NULL");
	erase(&xa, 0);
	erase(&xa, 63);
	ok(xa_empty(&xa) && xa_nr_nodes(&xa) == 0, "erasing everything frees every node");
	xa_destroy(&xa);
}

/* Paths across the whole 64-bit space, replacing, refusing, destroying. */
static void test_shape_wide(void)
{
	struct xarray xa;
	void *old;

	xa_init(&xa);
	store(&xa, UINT64_MAX, fake_ptr(1), NULL);
	is_u64(xa_nr_nodes(&xa), 11, "UINT64_MAX alone needs 11 levels");
	store(&xa, P2(63), fake_ptr(2), NULL);
	is_u64(xa_nr_nodes(&xa), 21, "2^63 beside it adds a 10-node path");
	store(&xa, 5, fake_ptr(3), NULL);
	is_u64(xa_nr_nodes(&xa), 31, "index 5 adds another 10-node path");
	ok(xa_load(&xa, UINT64_MAX) == fake_ptr(1) && xa_load(&xa, P2(63)) == fake_ptr(2) &&
		   xa_load(&xa, 5) == fake_ptr(3) && xa_load(&xa, P2(63) + 5) == NULL,
	   "loads across the whole index space");
	is_int(verify(&xa), 0, "tree verifies");
	erase(&xa, UINT64_MAX);
	erase(&xa, P2(63));
	is_u64(xa_nr_nodes(&xa), 1, "erasing the high entries shrinks to one leaf");
	is_int(verify(&xa), 0, "tree verifies after shrinking");
	store(&xa, 5, fake_ptr(4), &old);
	ok(old == fake_ptr(3) && xa_load(&xa, 5) == fake_ptr(4), "replace returns the old entry");
	is_int(store(&xa, 6, (void *)(uintptr_t)0x1002, NULL), -EINVAL,
	       "an entry that looks like a node is refused");
	ok(xa_load(&xa, 6) == NULL, "refused entry not stored");
	is_int(store(&xa, 5, NULL, &old), 0, "storing NULL erases");
	ok(old == fake_ptr(4) && xa_empty(&xa), "storing NULL returned the entry, tree empty");
	store(&xa, 1000, fake_ptr(5), NULL);
	xa_destroy(&xa);
	ok(xa_empty(&xa) && xa_nr_nodes(&xa) == 0, "destroy empties the tree");
	store(&xa, 7, fake_ptr(7), NULL);
	ok(xa_load(&xa, 7) == fake_ptr(7), "tree usable after destroy");
	xa_destroy(&xa);
	ok(xa_node_size() >= 64 * sizeof(void *) && xa_node_size() <= 576, "node size %zu bytes",
	   xa_node_size());
}

static void test_values(void)
{
	struct xarray xa;

	xa_init(&xa);
	ok(xa_is_value(xa_mk_value(0)) && xa_to_value(xa_mk_value(0)) == 0, "value 0");
	ok(xa_to_value(xa_mk_value(P2(63) - 1)) == P2(63) - 1, "largest value round-trips");
	ok(!xa_is_value(fake_ptr(1)) && !xa_is_value(NULL), "pointers are not values");
	store(&xa, 10, xa_mk_value(12345), NULL);
	store(&xa, 11, fake_ptr(11), NULL);
	ok(xa_is_value(xa_load(&xa, 10)) && xa_to_value(xa_load(&xa, 10)) == 12345,
	   "value entry loads back");
	set_mark(&xa, 10, XA_MARK_DIRTY);
	ok(!xa_get_mark(&xa, 10, XA_MARK_DIRTY) && !xa_marked(&xa, XA_MARK_DIRTY),
	   "a value entry cannot be marked");
	set_mark(&xa, 11, XA_MARK_DIRTY);
	set_mark(&xa, 11, XA_MARK_TOWRITE);
	store(&xa, 11, fake_ptr(111), NULL);
	ok(xa_get_mark(&xa, 11, XA_MARK_DIRTY) && xa_get_mark(&xa, 11, XA_MARK_TOWRITE),
	   "pointer replacing a pointer keeps its marks");
	store(&xa, 11, xa_mk_value(7), NULL);
	ok(!xa_get_mark(&xa, 11, XA_MARK_DIRTY) && !xa_marked(&xa, XA_MARK_DIRTY) &&
		   !xa_marked(&xa, XA_MARK_TOWRITE),
	   "a value entry replacing a marked pointer clears its marks");
	uint64_t i = 0;
	void *e = xa_find(&xa, &i, UINT64_MAX, XA_PRESENT);
	ok(e == xa_mk_value(12345) && i == 10, "XA_PRESENT finds value entries");
	i = 0;
	ok(xa_find(&xa, &i, UINT64_MAX, XA_MARK_DIRTY) == NULL && i == 0,
	   "mark filter skips values; index left alone");
	is_int(verify(&xa), 0, "tree with values verifies");
	xa_destroy(&xa);
}

static void test_mark_propagation(void)
{
	struct xarray xa;
	uint64_t deep = P2(40) + 5, i;

	xa_init(&xa);
	for (i = 0; i < 5000; i++)
		store(&xa, i, fake_ptr(i), NULL);
	store(&xa, deep, fake_ptr(deep), NULL);
	store(&xa, UINT64_MAX, fake_ptr(1), NULL);
	set_mark(&xa, deep, XA_MARK_WRITEBACK);
	set_mark(&xa, deep + 1, XA_MARK_WRITEBACK);
	ok(xa_marked(&xa, XA_MARK_WRITEBACK) && !xa_marked(&xa, XA_MARK_DIRTY),
	   "mark visible at the top, other marks not");
	i = 0;
	ok(xa_find(&xa, &i, UINT64_MAX, XA_MARK_WRITEBACK) == fake_ptr(deep) && i == deep,
	   "deep marked entry found from index 0");
	i = deep + 1;
	ok(xa_find(&xa, &i, UINT64_MAX, XA_MARK_WRITEBACK) == NULL, "nothing marked after it");
	i = 0;
	ok(xa_find(&xa, &i, deep - 1, XA_MARK_WRITEBACK) == NULL, "max stops the search");
	ok(xa_get_mark(&xa, deep, XA_MARK_WRITEBACK) && !xa_get_mark(&xa, deep + 1, 1) &&
		   !xa_get_mark(&xa, 3, XA_MARK_WRITEBACK),
	   "xa_get_mark on marked, absent and unmarked indices");
	is_int(verify(&xa), 0, "marks propagated consistently");
	clear_mark(&xa, deep, XA_MARK_WRITEBACK);
	i = 0;
	ok(xa_find(&xa, &i, UINT64_MAX, XA_MARK_WRITEBACK) == NULL &&
		   !xa_marked(&xa, XA_MARK_WRITEBACK),
	   "clearing it leaves nothing marked anywhere");
	is_int(verify(&xa), 0, "cleared marks propagated up");
	set_mark(&xa, 4999, XA_MARK_DIRTY);
	set_mark(&xa, UINT64_MAX, XA_MARK_DIRTY);
	erase(&xa, 4999);
	i = 0;
	ok(xa_find(&xa, &i, UINT64_MAX, XA_MARK_DIRTY) == fake_ptr(1) && i == UINT64_MAX,
	   "erase drops the mark; next one is at UINT64_MAX");
	erase(&xa, UINT64_MAX);
	ok(!xa_marked(&xa, XA_MARK_DIRTY), "no mark left after erasing");
	store(&xa, UINT64_MAX, fake_ptr(1), NULL);
	ok(!xa_get_mark(&xa, UINT64_MAX, XA_MARK_DIRTY), "re-stored entry starts unmarked");
	xa_destroy(&xa);
}

/* Gang lookups over the tree test_iteration() built (@n entries). */
static void test_gang(struct xarray *xa, unsigned n)
{
	void *got[8];
	uint64_t gi[8];
	unsigned m = xa_gang_lookup(xa, 1, UINT64_MAX, XA_PRESENT, got, gi, 8);

	ok(m == n - 1 && gi[0] == 1 && gi[m - 1] == UINT64_MAX && got[m - 1] == fake_ptr(n - 1),
	   "gang lookup from 1 returns %u entries ending at UINT64_MAX", m);
	m = xa_gang_lookup(xa, 0, UINT64_MAX, XA_MARK_TOWRITE, got, gi, 3);
	ok(m == 3 && gi[0] == 0 && gi[1] == 64 && gi[2] == P2(32), "gang lookup by mark, limited");
}

static void test_iteration(void)
{
	static const uint64_t idx[] = {0, 1, 64, 4096, P2(32), P2(63), UINT64_MAX - 1, UINT64_MAX};
	const unsigned n = sizeof(idx) / sizeof(idx[0]);
	struct xarray xa;
	uint64_t index;
	void *entry;
	unsigned k = 0, bad = 0;

	xa_init(&xa);
	for (unsigned j = 0; j < n; j++)
		store(&xa, idx[j], fake_ptr(j), NULL);
	for (unsigned j = 0; j < n; j += 2)
		set_mark(&xa, idx[j], XA_MARK_TOWRITE);
	xa_for_each_range(&xa, index, entry, 0, UINT64_MAX)
	{
		bad += k >= n || index != idx[k] || entry != fake_ptr(k);
		k++;
	}
	ok(k == n && !bad, "xa_for_each_range visits all %u in order and stops", n);
	k = 0;
	xa_for_each_marked(&xa, index, entry, 0, UINT64_MAX, XA_MARK_TOWRITE)
	{
		bad += 2 * k >= n || index != idx[2 * k];
		k++;
	}
	ok(k == n / 2 && !bad, "xa_for_each_marked visits the marked ones");
	k = 0;
	xa_for_each_range(&xa, index, entry, 2, P2(63))
	{
		k++;
	}
	is_int(k, 4, "range [2, 2^63] holds 4 entries");
	k = 0;
	xa_for_each_range(&xa, index, entry, UINT64_MAX, UINT64_MAX)
	{
		k++;
	}
	is_int(k, 1, "range [UINT64_MAX, UINT64_MAX] holds 1 entry");
	test_gang(&xa, n);
	xa_destroy(&xa);
}

static void test_tag_range(void)
{
	struct xarray xa;
	uint64_t i, n;

	xa_init(&xa);
	for (i = 0; i < 300; i++) {
		store(&xa, i, fake_ptr(i), NULL);
		if (i % 3 == 0)
			set_mark(&xa, i, XA_MARK_DIRTY);
	}
	n = tag_range(&xa, 10, 200, XA_MARK_DIRTY, XA_MARK_TOWRITE, UINT64_MAX);
	is_u64(n, 63, "tag_range tags the 63 dirty entries in [10, 200]");
	ok(xa_get_mark(&xa, 12, XA_MARK_TOWRITE) && xa_get_mark(&xa, 198, XA_MARK_TOWRITE) &&
		   !xa_get_mark(&xa, 9, XA_MARK_TOWRITE) && !xa_get_mark(&xa, 201, 2) &&
		   !xa_get_mark(&xa, 13, XA_MARK_TOWRITE),
	   "exactly the dirty entries in range are tagged");
	n = tag_range(&xa, 0, UINT64_MAX, XA_MARK_DIRTY, XA_MARK_WRITEBACK, 5);
	ok(n == 5 && xa_get_mark(&xa, 12, XA_MARK_WRITEBACK) &&
		   !xa_get_mark(&xa, 15, XA_MARK_WRITEBACK),
	   "limit tags the lowest 5 only");
	is_int(verify(&xa), 0, "tree verifies after tagging");
	xa_destroy(&xa);
}

static void test_nomem(void)
{
	struct xarray xa;
	long live;
	int err;

	rcu_barrier();
	live = xa_nodes_live();
	xa_init(&xa);
	xa_inject_nomem(5);
	err = store(&xa, P2(63), fake_ptr(1), NULL);
	xa_inject_nomem(-1);
	is_int(err, -ENOMEM, "store fails when the 6th node cannot be allocated");
	ok(xa_empty(&xa) && xa_nr_nodes(&xa) == 0 && xa_nodes_live() == live,
	   "failed store leaves nothing behind");
	for (uint64_t i = 0; i < 10; i++)
		store(&xa, i, fake_ptr(i), NULL);
	xa_inject_nomem(0);
	err = store(&xa, 1 << 20, fake_ptr(2), NULL);
	is_int(err, -ENOMEM, "store needing growth fails");
	is_int(store(&xa, 5, fake_ptr(55), NULL), 0, "store into an existing leaf needs no node");
	xa_inject_nomem(-1);
	ok(xa_nr_nodes(&xa) == 1 && xa_load(&xa, 5) == fake_ptr(55) && xa_load(&xa, 9) != NULL &&
		   xa_load(&xa, 1 << 20) == NULL,
	   "tree unchanged by the failed store");
	is_int(verify(&xa), 0, "tree verifies after failures");
	is_int(store(&xa, 1 << 20, fake_ptr(2), NULL), 0, "store works again");
	xa_destroy(&xa);
}

#ifdef FOLIO_DEBUG
static void *lock_held_elsewhere(void *arg)
{
	return (void *)(uintptr_t)xa_lock_held(arg);
}

static void test_lock_held(void)
{
	struct xarray xa;
	pthread_t t;
	void *res;

	xa_init(&xa);
	ok(!xa_lock_held(&xa), "lock not held after init");
	xa_lock(&xa);
	ok(xa_lock_held(&xa), "xa_lock_held after xa_lock");
	pthread_create(&t, NULL, lock_held_elsewhere, &xa);
	pthread_join(t, &res);
	ok(!res, "another thread does not hold it");
	xa_unlock(&xa);
	pthread_mutex_lock(&xa.xa_lock);
	ok(xa_lock_held(&xa), "seen when taken with pthread_mutex_lock");
	pthread_mutex_unlock(&xa.xa_lock);
	ok(!xa_lock_held(&xa), "not held after unlock");
}
#endif

/* ---- random run against a model ---- */

struct ment {
	uint64_t index;
	void *entry;
	unsigned marks;
};

struct model {
	struct ment *v;
	size_t n, cap;
};

/* Position of the first element with index >= @index. */
static size_t model_pos(const struct model *m, uint64_t index)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct ment *model_get(const struct model *m, uint64_t index)
{
	size_t p = model_pos(m, index);

	return p < m->n && m->v[p].index == index ? &m->v[p] : NULL;
}

static void model_store(struct model *m, uint64_t index, void *entry)
{
	size_t p = model_pos(m, index);
	bool have = p < m->n && m->v[p].index == index;

	if (!entry) {
		if (have)
			memmove(&m->v[p], &m->v[p + 1], (--m->n - p) * sizeof(m->v[0]));
		return;
	}
	if (!have) {
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 256;
			m->v = realloc(m->v, m->cap * sizeof(m->v[0]));
			if (!m->v)
				BAIL("out of memory");
		}
		memmove(&m->v[p + 1], &m->v[p], (m->n++ - p) * sizeof(m->v[0]));
		m->v[p] = (struct ment){index, NULL, 0};
	}
	if (xa_is_value(entry))
		m->v[p].marks = 0;
	m->v[p].entry = entry;
}

static bool ment_matches(const struct ment *e, xa_mark_t filter)
{
	return filter == XA_PRESENT || (e->marks & (1U << filter));
}

/* The first element in [start, max] matching @filter, or NULL. */
static struct ment *model_next(const struct model *m, uint64_t start, uint64_t max,
			       xa_mark_t filter)
{
	for (size_t p = model_pos(m, start); p < m->n && m->v[p].index <= max; p++) {
		if (ment_matches(&m->v[p], filter))
			return &m->v[p];
	}
	return NULL;
}

static uint64_t model_tag(struct model *m, uint64_t s, uint64_t e, xa_mark_t from, xa_mark_t to,
			  uint64_t limit)
{
	uint64_t done = 0;

	for (size_t p = model_pos(m, s); p < m->n && m->v[p].index <= e && done < limit; p++) {
		if (m->v[p].marks & (1U << from)) {
			m->v[p].marks |= 1U << to;
			done++;
		}
	}
	return done;
}

static const xa_mark_t filters[] = {XA_PRESENT, XA_MARK_DIRTY, XA_MARK_WRITEBACK, XA_MARK_TOWRITE};

/* Indices from every interesting part of the space; @dense keeps them small. */
static uint64_t gen_index(const struct model *m, bool dense)
{
	if (dense)
		return rnd(4096);
	switch (rnd(10)) {
	case 0:
	case 1:
		return rnd(300);
	case 2:
		return P2(32) - 150 + rnd(300);
	case 3:
		return P2(63) - 150 + rnd(300);
	case 4:
		return UINT64_MAX - rnd(300);
	case 5:
		return rnd64();
	case 6:
		return rnd(1 << 20);
	case 7:
		return rnd(2) ? 0 : UINT64_MAX;
	default:
		return m->n ? m->v[rnd(m->n)].index : rnd(300);
	}
}

static uint64_t gen_max(uint64_t start)
{
	uint64_t span = rnd(3) ? rnd64() >> rnd(64) : UINT64_MAX;

	return span > UINT64_MAX - start ? UINT64_MAX : start + span;
}

static void check_find(struct xarray *xa, const struct model *m, uint64_t start, uint64_t max,
		       xa_mark_t f)
{
	const struct ment *want = model_next(m, start, max, f);
	uint64_t i = start;
	void *got = xa_find(xa, &i, max, f);

	if (want)
		CHECK(got == want->entry && i == want->index,
		      "find(%" PRIx64 ", %" PRIx64 ", %u): got %p at %" PRIx64 ", want %" PRIx64,
		      start, max, f, got, i, want->index);
	else
		CHECK(!got && i == start, "find(%" PRIx64 ", %u): got %p at %" PRIx64, start, f,
		      got, i);
}

static void check_gang(struct xarray *xa, const struct model *m)
{
	uint64_t start = gen_index(m, false), max = gen_max(start), idx[70];
	xa_mark_t f = filters[rnd(4)];
	unsigned n = 1 + rnd(70), got;
	void *ent[70];

	got = xa_gang_lookup(xa, start, max, f, ent, idx, n);
	for (unsigned k = 0; k <= got && k < n; k++) {
		const struct ment *want = model_next(m, start, max, f);

		if (k == got) {
			CHECK(!want, "gang stopped early at %u of %u", got, n);
			break;
		}
		CHECK(want && want->index == idx[k] && want->entry == ent[k],
		      "gang entry %u: got %" PRIx64, k, idx[k]);
		if (!want || want->index == UINT64_MAX)
			break;
		start = want->index + 1;
	}
}

/* Everything the model says, checked against the tree. */
static void check_model(struct xarray *xa, const struct model *m, bool dense)
{
	for (size_t p = 0; p < m->n; p++) {
		CHECK(xa_load(xa, m->v[p].index) == m->v[p].entry, "load %" PRIx64, m->v[p].index);
		for (xa_mark_t k = 0; k < XA_MAX_MARKS; k++)
			CHECK(xa_get_mark(xa, m->v[p].index, k) == !!(m->v[p].marks & (1U << k)),
			      "mark %u at %" PRIx64, k, m->v[p].index);
	}
	for (unsigned k = 0; k < 4; k++) {
		uint64_t i = gen_index(m, dense);

		if (!model_get(m, i))
			CHECK(xa_load(xa, i) == NULL, "load of absent %" PRIx64, i);
	}
	for (unsigned f = 0; f < 4; f++) {
		uint64_t s = gen_index(m, dense);

		check_find(xa, m, 0, UINT64_MAX, filters[f]);
		check_find(xa, m, s, UINT64_MAX, filters[f]);
		check_find(xa, m, s, gen_max(s), filters[f]);
	}
	for (xa_mark_t k = 0; k < XA_MAX_MARKS; k++)
		CHECK(xa_marked(xa, k) == (model_next(m, 0, UINT64_MAX, k) != NULL), "marked %u",
		      k);
}

static void random_store(struct xarray *xa, struct model *m, uint64_t i, void *entry)
{
	const struct ment *was = model_get(m, i);
	void *want = was ? was->entry : NULL, *old;

	CHECK(store(xa, i, entry, &old) == 0, "store at %" PRIx64, i);
	CHECK(old == want, "old entry at %" PRIx64, i);
	model_store(m, i, entry);
}

static void random_step(struct xarray *xa, struct model *m, bool dense, size_t target)
{
	uint64_t i = gen_index(m, dense), s, e, n;
	unsigned op = rnd(100);
	xa_mark_t mark = rnd(XA_MAX_MARKS);
	void *entry;

	if (m->n > target && op < 40)
		op += 30; /* lean towards erasing */
	if (op < 35 || op >= 95) {
		entry = op < 25 ? fake_ptr(rnd64() >> 8) : xa_mk_value(rnd64() >> 1);
		random_store(xa, m, i, op >= 95 ? NULL : entry);
	} else if (op < 60) {
		const struct ment *was = model_get(m, i);

		CHECK(erase(xa, i) == (was ? was->entry : NULL), "erase at %" PRIx64, i);
		model_store(m, i, NULL);
	} else if (op < 80) {
		struct ment *me = model_get(m, i);

		set_mark(xa, i, mark);
		if (me && !xa_is_value(me->entry))
			me->marks |= 1U << mark;
	} else if (op < 88) {
		struct ment *me = model_get(m, i);

		clear_mark(xa, i, mark);
		if (me)
			me->marks &= ~(1U << mark);
	} else if (op < 92) {
		xa_mark_t to = (mark + 1 + rnd(2)) % XA_MAX_MARKS;

		s = gen_index(m, dense);
		e = gen_max(s);
		n = rnd(2) ? 1 + rnd(40) : UINT64_MAX;
		CHECK(tag_range(xa, s, e, mark, to, n) == model_tag(m, s, e, mark, to, n),
		      "tag_range count");
	} else {
		check_gang(xa, m);
	}
}

static void drain(struct xarray *xa, struct model *m)
{
	while (m->n) {
		size_t p = rnd(m->n);
		uint64_t i = m->v[p].index;

		CHECK(erase(xa, i) == m->v[p].entry, "drain erase %" PRIx64, i);
		model_store(m, i, NULL);
		if (m->n % 64 == 0)
			check_model(xa, m, false);
	}
}

static void run_random(const char *name, unsigned steps, bool dense, size_t target,
		       unsigned verify_every)
{
	struct model m = {0};
	struct xarray xa;
	unsigned bad_verify = 0;
	uint64_t peak = 0;

	mismatches = 0;
	xa_init(&xa);
	for (unsigned step = 0; step < steps; step++) {
		random_step(&xa, &m, dense, target);
		check_model(&xa, &m, dense);
		if (step % verify_every == 0)
			bad_verify += verify(&xa) != 0;
		if (xa_nr_nodes(&xa) > peak)
			peak = xa_nr_nodes(&xa);
	}
	bad_verify += verify(&xa) != 0;
	diag("%s: %u steps, %zu entries at the end, peak %" PRIu64 " nodes", name, steps, m.n,
	     peak);
	ok(mismatches == 0, "%s: tree agrees with the model (%lu mismatches)", name, mismatches);
	is_int(bad_verify, 0, "%s: xa_verify passes throughout", name);
	drain(&xa, &m);
	ok(mismatches == 0 && xa_empty(&xa) && xa_nr_nodes(&xa) == 0,
	   "%s: erasing everything leaves no node (%" PRIu64 ")", name, xa_nr_nodes(&xa));
	xa_destroy(&xa);
	free(m.v);
}

/* ---- RCU readers beside a writer ---- */

#define LIVE_MAGIC 0x6c6976656c697665ULL
#define DEAD_MAGIC 0xdeadbeefdeadbeefULL
#define VALUE_MASK (P2(62) - 1)
#define N_READERS  3
#define STABLE_GAP 97 /* indices k * STABLE_GAP + 3 below 8192 are never written */

struct tentry {
	_Atomic uint64_t magic;
	uint64_t index;
	struct rcu_head rcu;
	struct tentry *next_dead;
};

#ifndef __SANITIZE_ADDRESS__
static pthread_mutex_t grave_lock = PTHREAD_MUTEX_INITIALIZER;
#endif
static struct tentry *graveyard;
static atomic_bool writer_done;
static unsigned long reshapes; /* written by the writer thread, read after join */

static void tentry_free_rcu(struct rcu_head *head)
{
	struct tentry *te = caa_container_of(head, struct tentry, rcu);

	atomic_store(&te->magic, DEAD_MAGIC);
#ifdef __SANITIZE_ADDRESS__
	free(te); /* AddressSanitizer reports any later read */
#else
	pthread_mutex_lock(&grave_lock); /* kept, so a late reader sees DEAD_MAGIC */
	te->next_dead = graveyard;
	graveyard = te;
	pthread_mutex_unlock(&grave_lock);
#endif
}

static void *tentry_new(uint64_t index)
{
	struct tentry *te = malloc(sizeof(*te));

	if (!te)
		BAIL("out of memory");
	te->index = index;
	atomic_store(&te->magic, LIVE_MAGIC);
	return te;
}

static void entry_release(void *entry)
{
	if (entry && !xa_is_value(entry))
		call_rcu(&((struct tentry *)entry)->rcu, tentry_free_rcu);
}

static bool is_stable(uint64_t i)
{
	return i < 8192 && i % STABLE_GAP == 3;
}

/* Does @entry belong at @index? */
static bool entry_ok(const void *entry, uint64_t index)
{
	const struct tentry *te = entry;

	if (xa_is_value(entry))
		return xa_to_value(entry) == (index & VALUE_MASK);
	return atomic_load(&te->magic) == LIVE_MAGIC && te->index == index;
}

struct rng {
	uint64_t s;
};

static uint64_t rrnd(struct rng *r, uint64_t n)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return (x * 0x2545F4914F6CDD1DULL) % n;
}

/* Mostly [0, 8192); now and then a few indices high up, so the tree grows and shrinks. */
static uint64_t conc_index(struct rng *r)
{
	switch (rrnd(r, 16)) {
	case 0:
		return P2(32) + rrnd(r, 4);
	case 1:
		return P2(63) + rrnd(r, 4);
	case 2:
		return UINT64_MAX - rrnd(r, 4);
	default:
		return rrnd(r, 8192);
	}
}

struct reader_stats {
	unsigned long loops, hits, bad, missed;
	uint64_t seed;
};

static void reader_check_stable(struct xarray *xa, struct rng *r, struct reader_stats *st)
{
	uint64_t s = rrnd(r, 8192 / STABLE_GAP) * STABLE_GAP + 3, i = s > 200 ? s - 200 : 0;
	void *e = xa_load(xa, s);

	st->missed += !e || !entry_ok(e, s);
	st->missed += !xa_get_mark(xa, s, XA_MARK_TOWRITE);
	e = xa_find(xa, &i, s, XA_MARK_TOWRITE);
	st->missed += !e;
	st->bad += e && (xa_is_value(e) || !entry_ok(e, i) || i > s);
}

static void reader_round(struct xarray *xa, struct rng *r, struct reader_stats *st)
{
	uint64_t i = conc_index(r), idx[16];
	void *e = xa_load(xa, i), *ent[16];
	xa_mark_t f = filters[rrnd(r, 4)];
	unsigned n;

	st->hits += e != NULL;
	st->bad += e && !entry_ok(e, i);
	e = xa_find(xa, &i, UINT64_MAX, f);
	st->bad += e && (!entry_ok(e, i) || (f != XA_PRESENT && xa_is_value(e)));
	n = xa_gang_lookup(xa, conc_index(r), UINT64_MAX, f, ent, idx, 16);
	for (unsigned k = 0; k < n; k++)
		st->bad += !entry_ok(ent[k], idx[k]) || (k && idx[k] <= idx[k - 1]);
	reader_check_stable(xa, r, st);
}

static struct xarray conc_xa;

static void *reader_main(void *arg)
{
	struct reader_stats *st = arg;
	struct rng r = {st->seed};

	rcu_register_thread();
	while (!atomic_load(&writer_done) || st->loops < 1000) {
		rcu_read_lock();
		reader_round(&conc_xa, &r, st);
		rcu_read_unlock();
		st->loops++;
	}
	rcu_unregister_thread();
	return NULL;
}

static void writer_op(struct xarray *xa, struct rng *r)
{
	uint64_t i = conc_index(r);
	unsigned op = rrnd(r, 100);
	void *old = NULL;

	if (is_stable(i))
		i++;
	xa_lock(xa);
	if (op < 30) {
		if (__xa_store(xa, i, tentry_new(i), &old))
			BAIL("store failed");
	} else if (op < 40) {
		__xa_store(xa, i, xa_mk_value(i & VALUE_MASK), &old);
	} else if (op < 75) {
		old = __xa_erase(xa, i);
	} else if (op < 85) {
		__xa_set_mark(xa, i, rrnd(r, XA_MAX_MARKS));
	} else if (op < 97) {
		__xa_clear_mark(xa, i, rrnd(r, XA_MAX_MARKS));
	} else {
		__xa_tag_range(xa, i, UINT64_MAX, XA_MARK_DIRTY, XA_MARK_TOWRITE, 32);
	}
	xa_unlock(xa);
	entry_release(old);
}

static void *writer_main(void *arg)
{
	struct rng r = {*(uint64_t *)arg};

	uint64_t prev = 0, now;

	rcu_register_thread();
	for (unsigned long k = 0; k < 300000; k++) {
		writer_op(&conc_xa, &r);
		/* A path of 9+ nodes came or went (the top moves with the last high one). */
		now = xa_nr_nodes(&conc_xa);
		reshapes += now >= prev + 9 || prev >= now + 9;
		prev = now;
	}
	rcu_unregister_thread();
	atomic_store(&writer_done, true);
	return NULL;
}

static void conc_setup(void)
{
	xa_init(&conc_xa);
	for (uint64_t s = 3; s < 8192; s += STABLE_GAP) {
		store(&conc_xa, s, tentry_new(s), NULL);
		set_mark(&conc_xa, s, XA_MARK_TOWRITE);
	}
}

static void conc_teardown(void)
{
	uint64_t index;
	void *entry;
	unsigned long dead = 0, alive = 0;

	xa_lock(&conc_xa);
	xa_for_each_range(&conc_xa, index, entry, 0, UINT64_MAX)
	{
		__xa_erase(&conc_xa, index);
		entry_release(entry);
	}
	xa_unlock(&conc_xa);
	ok(xa_empty(&conc_xa) && xa_nr_nodes(&conc_xa) == 0, "concurrent tree erased");
	xa_destroy(&conc_xa);
	rcu_barrier();
	while (graveyard) {
		struct tentry *te = graveyard;

		graveyard = te->next_dead;
		dead += atomic_load(&te->magic) == DEAD_MAGIC;
		alive += atomic_load(&te->magic) != DEAD_MAGIC;
		free(te);
	}
	ok(alive == 0, "graveyard holds only freed entries (%lu)", dead);
}

static void test_concurrent(uint64_t seed)
{
	pthread_t readers[N_READERS], writer;
	struct reader_stats st[N_READERS] = {0};
	unsigned long loops = 0, hits = 0, bad = 0, missed = 0;
	uint64_t wseed = seed ^ 0x5bd1e995;

	conc_setup();
	atomic_store(&writer_done, false);
	for (unsigned k = 0; k < N_READERS; k++) {
		st[k].seed = seed + 1000 * (k + 1);
		if (pthread_create(&readers[k], NULL, reader_main, &st[k]))
			BAIL("pthread_create");
	}
	if (pthread_create(&writer, NULL, writer_main, &wseed))
		BAIL("pthread_create");
	pthread_join(writer, NULL);
	for (unsigned k = 0; k < N_READERS; k++) {
		pthread_join(readers[k], NULL);
		loops += st[k].loops;
		hits += st[k].hits;
		bad += st[k].bad;
		missed += st[k].missed;
	}
	diag("readers: %lu rounds, %lu loads hit", loops, hits);
	ok(loops >= N_READERS * 1000 && hits > 0, "readers ran and found entries");
	ok(reshapes > 100, "long paths came and went %lu times under the readers", reshapes);
	is_int(bad, 0, "readers never saw a wrong, freed or misplaced entry");
	is_int(missed, 0, "readers always found the entries that never change");
	is_int(verify(&conc_xa), 0, "tree verifies after the concurrent run");
	conc_teardown();
}

int main(void)
{
	const char *env = getenv("XA_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ULL;

	rng_state = seed ? seed : 1;
	diag("XA_SEED=%" PRIu64, seed);
	rcu_register_thread();
	test_shape();
	test_shape_wide();
	test_values();
	test_mark_propagation();
	test_iteration();
	test_tag_range();
	test_nomem();
#ifdef FOLIO_DEBUG
	test_lock_held();
#endif
	run_random("sparse", 40000, false, 300, 16);
	run_random("dense", 10000, true, 2000, 64);
	test_concurrent(seed);
	rcu_barrier();
	is_int(xa_nodes_live(), 0, "no node alive after destroy and rcu_barrier");
	rcu_unregister_thread();
	return done_testing();
}
