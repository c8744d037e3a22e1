/*
 * cache/xarray.c - the radix tree behind every address_space (see xarray.h).
 *
 * Shape: 64-slot nodes. A node of shift s resolves index bits [s, s+6); leaves
 * have shift 0 and are the only nodes holding entries. The top node covers
 * [0, 64 << shift); the tree grows by putting a new node above the top (old top
 * in slot 0) and shrinks when the top node only uses slot 0. Internal slots
 * hold node pointers tagged with XA_NODE_TAG, so a reader can never take a node
 * for an entry or the reverse.
 *
 * Invariants (checked by xa_verify()):
 *   1. Every node in the tree has count > 0 non-NULL slots; an empty node is
 *      unlinked at once, and so is its parent if that empties in turn.
 *   2. The top node, if not a leaf, does not use slot 0 alone.
 *   3. For every node n, slot i and mark m: bit i of n->marks[m] is set iff
 *      slot i is a marked pointer entry (leaf) or a node whose marks[m] is not
 *      zero (internal). Value entries are never marked.
 *   4. child->parent and child->offset name the slot that points at the child;
 *      child->shift == parent->shift - 6.
 *   5. xa->xa_nodes counts the nodes reachable from xa->xa_head.
 *
 * RCU: writers hold xa_lock and publish every slot and head with
 * rcu_assign_pointer(); readers follow them with rcu_dereference() and never use
 * parent, offset or count, which only writers read. A node unlinked from the
 * tree is not written again (its slots keep what they held when it left, which
 * is what the tree held at that moment), and call_rcu() frees it after a grace
 * period. A node's shift never changes, so a reader descending through a node
 * that was unlinked meanwhile still lands at the right level.
 */
#include "config.h"

/* Inline rcu_dereference() and rcu_assign_pointer(): lookups make no calls. */
#define URCU_INLINE_SMALL_FUNCTIONS

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <urcu.h>

#include "cache/xarray.h"

/* Low bits 10 mark a node pointer in a slot or in xa_head. */
#define XA_NODE_TAG   2UL
#define XA_MAX_SHIFT  60U
#define XA_MAX_HEIGHT (XA_MAX_SHIFT / XA_CHUNK_SHIFT + 1)
/* Nodes one store may need: a new path of XA_MAX_HEIGHT plus the growth chain. */
#define XA_MAX_PREALLOC (2 * XA_MAX_HEIGHT)

/*
 * struct xa_node - one level of the tree.
 *
 * Readers use shift, slots and marks; everything else is for writers. All
 * fields are written only under the tree's xa_lock.
 */
struct xa_node {
	unsigned char shift;	 /* index bits below this node; 0 for a leaf */
	unsigned char offset;	 /* slot in parent that points here */
	unsigned char count;	 /* non-NULL slots */
	unsigned char nr_values; /* value entries in slots (leaves only) */
	struct xa_node *parent;	 /* NULL for the top node */
	void *slots[XA_CHUNK_SIZE];
	uint64_t marks[XA_MAX_MARKS];
	struct rcu_head rcu; /* used once the node has left the tree */
};

static atomic_long xa_live_nodes;
static atomic_long xa_nomem_after = -1;

#ifdef FOLIO_DEBUG
#define XA_ASSERT_LOCKED(xa) assert(xa_lock_held(xa))
#else
#define XA_ASSERT_LOCKED(xa) ((void)0)
#endif

static inline bool xa_is_node(const void *entry)
{
	return ((uintptr_t)entry & 3) == XA_NODE_TAG;
}

static inline struct xa_node *xa_to_node(const void *entry)
{
	return (struct xa_node *)((uintptr_t)entry - XA_NODE_TAG);
}

static inline void *xa_mk_node(const struct xa_node *node)
{
	return (void *)((uintptr_t)node | XA_NODE_TAG);
}

static inline struct xa_node *xa_head_node(struct xarray *xa)
{
	void *head = rcu_dereference(xa->xa_head);

	return head ? xa_to_node(head) : NULL;
}

/* Index bits one node of @shift covers: (64 << shift) - 1, all ones at the top. */
static inline uint64_t xa_span_mask(unsigned shift)
{
	if (shift + XA_CHUNK_SHIFT >= 64)
		return UINT64_MAX;
	return ((uint64_t)XA_CHUNK_SIZE << shift) - 1;
}

static inline unsigned xa_offset(uint64_t index, unsigned shift)
{
	return (index >> shift) & XA_CHUNK_MASK;
}

static inline uint64_t xa_bit(unsigned offset)
{
	return (uint64_t)1 << offset;
}

static inline uint64_t xa_load_marks(const struct xa_node *node, xa_mark_t mark)
{
	return CMM_LOAD_SHARED(node->marks[mark]);
}

/* ---- node allocation and freeing ---- */

static bool xa_nomem_now(void)
{
	long n = atomic_load_explicit(&xa_nomem_after, memory_order_relaxed);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&xa_nomem_after, &n, n - 1))
			return false;
	}
	return n == 0;
}

static struct xa_node *xa_node_alloc(void)
{
	struct xa_node *node;

	if (xa_nomem_now())
		return NULL;
	node = calloc(1, sizeof(*node));
	if (node)
		atomic_fetch_add_explicit(&xa_live_nodes, 1, memory_order_relaxed);
	return node;
}

static void xa_node_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct xa_node, rcu));
	atomic_fetch_sub_explicit(&xa_live_nodes, 1, memory_order_relaxed);
}

/* A node that left @xa: free it once no reader can be inside it. */
static void xa_node_retire(struct xarray *xa, struct xa_node *node)
{
	CMM_STORE_SHARED(xa->xa_nodes, xa->xa_nodes - 1);
	call_rcu(&node->rcu, xa_node_free_rcu);
}

/* Nodes allocated before a store changes anything, so it cannot fail halfway. */
struct xa_prealloc {
	unsigned nr;
	struct xa_node *nodes[XA_MAX_PREALLOC];
};

static int xa_prealloc_fill(struct xa_prealloc *pre, unsigned want)
{
	assert(want <= XA_MAX_PREALLOC);
	pre->nr = 0;
	while (pre->nr < want) {
		struct xa_node *node = xa_node_alloc();

		if (!node) {
			/* None of them was published: free at once. */
			while (pre->nr)
				xa_node_free_rcu(&pre->nodes[--pre->nr]->rcu);
			return -ENOMEM;
		}
		pre->nodes[pre->nr++] = node;
	}
	return 0;
}

static struct xa_node *xa_prealloc_take(struct xarray *xa, struct xa_prealloc *pre, unsigned shift,
					struct xa_node *parent, unsigned offset)
{
	struct xa_node *node;

	assert(pre->nr > 0);
	node = pre->nodes[--pre->nr];
	node->shift = shift;
	node->offset = offset;
	node->parent = parent;
	CMM_STORE_SHARED(xa->xa_nodes, xa->xa_nodes + 1);
	return node;
}

/* ---- marks (writer side) ---- */

/* Set @mark on slot @offset of @node and on every ancestor that lacks it. */
static void xa_node_set_mark(struct xa_node *node, unsigned offset, xa_mark_t mark)
{
	while (node) {
		uint64_t bits = node->marks[mark];

		if (bits & xa_bit(offset))
			return;
		CMM_STORE_SHARED(node->marks[mark], bits | xa_bit(offset));
		offset = node->offset;
		node = node->parent;
	}
}

/* Clear @mark on slot @offset of @node, and upward while nodes lose their last one. */
static void xa_node_clear_mark(struct xa_node *node, unsigned offset, xa_mark_t mark)
{
	while (node) {
		uint64_t bits = node->marks[mark];

		if (!(bits & xa_bit(offset)))
			return;
		bits &= ~xa_bit(offset);
		CMM_STORE_SHARED(node->marks[mark], bits);
		if (bits)
			return;
		offset = node->offset;
		node = node->parent;
	}
}

static void xa_node_clear_all_marks(struct xa_node *node, unsigned offset)
{
	for (xa_mark_t m = 0; m < XA_MAX_MARKS; m++)
		xa_node_clear_mark(node, offset, m);
}

/* ---- shape changes (writer side) ---- */

/* Smallest shift whose node can hold @index at the top. */
static unsigned xa_shift_for(uint64_t index)
{
	unsigned shift = 0;

	while (shift < XA_MAX_SHIFT && (index >> shift) >= XA_CHUNK_SIZE)
		shift += XA_CHUNK_SHIFT;
	return shift;
}

/* While the top node only uses slot 0, let its child become the top. */
static void xa_shrink(struct xarray *xa)
{
	for (;;) {
		struct xa_node *node = xa_head_node(xa);
		struct xa_node *child;

		if (!node || node->shift == 0 || node->count != 1 || !node->slots[0])
			return;
		child = xa_to_node(node->slots[0]);
		child->parent = NULL;
		rcu_assign_pointer(xa->xa_head, xa_mk_node(child));
		xa_node_retire(xa, node);
	}
}

/* Unlink @node if it is empty, then its parent if that empties too, then shrink. */
static void xa_delete_empty(struct xarray *xa, struct xa_node *node)
{
	while (node && node->count == 0) {
		struct xa_node *parent = node->parent;

		if (parent) {
			assert(!((parent->marks[0] | parent->marks[1] | parent->marks[2]) &
				 xa_bit(node->offset)));
			rcu_assign_pointer(parent->slots[node->offset], NULL);
			parent->count--;
		} else {
			rcu_assign_pointer(xa->xa_head, NULL);
		}
		xa_node_retire(xa, node);
		node = parent;
	}
	xa_shrink(xa);
}

/* How many nodes storing at @index needs to allocate. */
static unsigned xa_nodes_needed(struct xarray *xa, uint64_t index)
{
	unsigned want = xa_shift_for(index);
	struct xa_node *node = xa_head_node(xa);

	if (!node)
		return want / XA_CHUNK_SHIFT + 1;
	if (want > node->shift)
		return (want - node->shift) / XA_CHUNK_SHIFT + want / XA_CHUNK_SHIFT;
	while (node->shift) {
		void *entry = node->slots[xa_offset(index, node->shift)];

		if (!entry)
			return node->shift / XA_CHUNK_SHIFT;
		node = xa_to_node(entry);
	}
	return 0;
}

/* Put new nodes above the top until it covers @index. */
static void xa_grow(struct xarray *xa, uint64_t index, struct xa_prealloc *pre)
{
	unsigned want = xa_shift_for(index);
	struct xa_node *top = xa_head_node(xa);

	if (!top) {
		top = xa_prealloc_take(xa, pre, want, NULL, 0);
		rcu_assign_pointer(xa->xa_head, xa_mk_node(top));
		return;
	}
	while (top->shift < want) {
		struct xa_node *node =
			xa_prealloc_take(xa, pre, top->shift + XA_CHUNK_SHIFT, NULL, 0);

		node->slots[0] = xa_mk_node(top);
		node->count = 1;
		for (xa_mark_t m = 0; m < XA_MAX_MARKS; m++)
			node->marks[m] = top->marks[m] ? 1 : 0;
		top->parent = node;
		top->offset = 0;
		rcu_assign_pointer(xa->xa_head, xa_mk_node(node));
		top = node;
	}
}

/* The leaf for @index, created (from @pre, if given) along with its path. */
static struct xa_node *xa_leaf(struct xarray *xa, uint64_t index, struct xa_prealloc *pre)
{
	struct xa_node *node = xa_head_node(xa);

	if (!node || (index & ~xa_span_mask(node->shift)))
		return NULL;
	while (node->shift) {
		unsigned offset = xa_offset(index, node->shift);
		void *entry = node->slots[offset];
		struct xa_node *child;

		if (entry) {
			node = xa_to_node(entry);
			continue;
		}
		if (!pre)
			return NULL;
		child = xa_prealloc_take(xa, pre, node->shift - XA_CHUNK_SHIFT, node, offset);
		rcu_assign_pointer(node->slots[offset], xa_mk_node(child));
		node->count++;
		node = child;
	}
	return node;
}

/* ---- setup and teardown ---- */

/**
 * xa_init - make an empty tree
 * @xa: the tree
 *
 * Context: before any other use of @xa. Debug builds use an error-checking mutex.
 */
void xa_init(struct xarray *xa)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
#ifdef FOLIO_DEBUG
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#endif
	pthread_mutex_init(&xa->xa_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	xa->xa_head = NULL;
	xa->xa_nodes = 0;
}

static void xa_free_subtree(struct xarray *xa, struct xa_node *node)
{
	if (node->shift) {
		for (unsigned i = 0; i < XA_CHUNK_SIZE; i++) {
			if (node->slots[i])
				xa_free_subtree(xa, xa_to_node(node->slots[i]));
		}
	}
	xa_node_retire(xa, node);
}

/**
 * xa_destroy - free every node of a tree
 * @xa: the tree
 *
 * The entries are the caller's and are left alone. Nodes are freed after a grace
 * period, so readers still inside the tree stay safe. @xa is left empty and can
 * be used again; its mutex is kept.
 *
 * Context: takes xa_lock; the thread is registered with RCU.
 */
void xa_destroy(struct xarray *xa)
{
	struct xa_node *top;

	xa_lock(xa);
	top = xa_head_node(xa);
	rcu_assign_pointer(xa->xa_head, NULL);
	if (top)
		xa_free_subtree(xa, top);
	assert(xa->xa_nodes == 0);
	xa_unlock(xa);
}

/**
 * xa_lock - take the writers' lock of a tree
 * @xa: the tree
 *
 * Context: may sleep; not with xa_lock already held (debug builds assert it).
 */
void xa_lock(struct xarray *xa)
{
	int err = pthread_mutex_lock(&xa->xa_lock);

	assert(err == 0);
	(void)err;
}

/**
 * xa_unlock - drop the writers' lock of a tree
 * @xa: the tree
 *
 * Context: xa_lock held by this thread (debug builds assert it).
 */
void xa_unlock(struct xarray *xa)
{
	int err = pthread_mutex_unlock(&xa->xa_lock);

	assert(err == 0);
	(void)err;
}

/**
 * xa_lock_held - does this thread hold the tree's lock?
 * @xa: the tree
 *
 * Reads the owner glibc records in every mutex it locks, so it sees the lock
 * whether it was taken with xa_lock() or pthread_mutex_lock(&xa->xa_lock).
 *
 * Context: any; meant for assertions.
 * Return: true if the calling thread holds xa_lock (always true off glibc).
 */
bool xa_lock_held(struct xarray *xa)
{
#ifdef __GLIBC__
	return CMM_LOAD_SHARED(xa->xa_lock.__data.__owner) == gettid();
#else
	return true;
#endif
}

/**
 * xa_empty - is the tree empty?
 * @xa: the tree
 *
 * Context: any.
 * Return: true if no index holds an entry.
 */
bool xa_empty(const struct xarray *xa)
{
	return CMM_LOAD_SHARED(xa->xa_head) == NULL;
}

/* ---- lookups (RCU or xa_lock) ---- */

/**
 * xa_load - the entry at an index
 * @xa: the tree
 * @index: the index
 *
 * Context: rcu_read_lock() held by a registered thread, or xa_lock held.
 * Return: the entry (pointer or value) stored at @index, or NULL.
 */
void *xa_load(struct xarray *xa, uint64_t index)
{
	void *entry = rcu_dereference(xa->xa_head);
	struct xa_node *node;
	unsigned shift;

	if (!entry)
		return NULL;
	node = xa_to_node(entry);
	shift = node->shift;
	if ((index >> shift) >= XA_CHUNK_SIZE)
		return NULL;
	/* Each level is 6 bits below its parent, so only slots are loaded on the way. */
	for (;;) {
		entry = rcu_dereference(node->slots[xa_offset(index, shift)]);
		if (!shift || !entry)
			return entry;
		assert(xa_is_node(entry));
		node = xa_to_node(entry);
		shift -= XA_CHUNK_SHIFT;
	}
}

/**
 * xa_get_mark - does the entry at an index carry a mark?
 * @xa: the tree
 * @index: the index
 * @mark: XA_MARK_*
 *
 * Context: rcu_read_lock() or xa_lock held.
 * Return: true if the entry at @index carries @mark.
 */
bool xa_get_mark(struct xarray *xa, uint64_t index, xa_mark_t mark)
{
	struct xa_node *node = xa_head_node(xa);

	assert(mark < XA_MAX_MARKS);
	if (!node || (index >> node->shift) >= XA_CHUNK_SIZE)
		return false;
	for (;;) {
		unsigned offset = xa_offset(index, node->shift);
		void *entry;

		if (!(xa_load_marks(node, mark) & xa_bit(offset)))
			return false;
		if (node->shift == 0)
			return true;
		entry = rcu_dereference(node->slots[offset]);
		if (!entry)
			return false;
		node = xa_to_node(entry);
	}
}

/**
 * xa_marked - does any entry carry a mark?
 * @xa: the tree
 * @mark: XA_MARK_*
 *
 * Context: rcu_read_lock() or xa_lock held.
 * Return: true if some entry in the tree carries @mark.
 */
bool xa_marked(struct xarray *xa, xa_mark_t mark)
{
	struct xa_node *node = xa_head_node(xa);

	assert(mark < XA_MAX_MARKS);
	return node && xa_load_marks(node, mark) != 0;
}

/* First slot >= @from in @node that @filter can match, or -1. */
static int xa_node_next(struct xa_node *node, unsigned from, xa_mark_t filter)
{
	if (filter < XA_MAX_MARKS) {
		uint64_t bits = xa_load_marks(node, filter) & (UINT64_MAX << from);

		return bits ? __builtin_ctzll(bits) : -1;
	}
	for (; from < XA_CHUNK_SIZE; from++) {
		if (CMM_LOAD_SHARED(node->slots[from]))
			return from;
	}
	return -1;
}

static bool xa_entry_matches(const void *entry, xa_mark_t filter)
{
	return entry && (filter == XA_PRESENT || !xa_is_value(entry));
}

/*
 * The first entry at an index in [*indexp, max] matching @filter; on success
 * *indexp is its index and *leafp its leaf. Nodes on the way down are kept in a
 * stack, so the search never reads parent pointers.
 */
static void *xa_find_entry(struct xarray *xa, uint64_t *indexp, uint64_t max, xa_mark_t filter,
			   struct xa_node **leafp)
{
	struct xa_node *stack[XA_MAX_HEIGHT], *node = xa_head_node(xa);
	uint64_t index = *indexp;
	unsigned depth = 0, from;

	assert(filter < XA_MAX_MARKS || filter == XA_PRESENT);
	if (!node || index > max || (index & ~xa_span_mask(node->shift)))
		return NULL;
	from = xa_offset(index, node->shift);
	for (;;) {
		unsigned shift = node->shift;
		int off = from < XA_CHUNK_SIZE ? xa_node_next(node, from, filter) : -1;
		void *entry;

		if (off < 0) {
			/* Nothing left here: resume after this node in its parent. */
			if (depth == 0)
				return NULL;
			node = stack[--depth];
			from = xa_offset(index, node->shift) + 1;
			continue;
		}
		if ((unsigned)off != xa_offset(index, shift))
			index = (index & ~xa_span_mask(shift)) | ((uint64_t)off << shift);
		if (index > max)
			return NULL;
		entry = rcu_dereference(node->slots[off]);
		if (shift == 0 && xa_entry_matches(entry, filter)) {
			*indexp = index;
			*leafp = node;
			return entry;
		}
		if (shift == 0 || !entry) {
			/* Emptied or unmarked since the bit was read: skip the slot. */
			from = off + 1;
			continue;
		}
		stack[depth++] = node;
		node = xa_to_node(entry);
		from = xa_offset(index, node->shift);
	}
}

/**
 * xa_find - the first entry at or after an index
 * @xa: the tree
 * @indexp: in: the first index to look at; out: the index of the entry found
 * @max: the last index to look at
 * @filter: XA_PRESENT for any entry, or XA_MARK_* for entries carrying that mark
 *
 * Marked subtrees are found from the marks of the nodes above them, so a search
 * for a mark never scans unmarked parts of the tree.
 *
 * Context: rcu_read_lock() or xa_lock held. Under RCU an entry stored or erased
 * while the search runs may or may not be seen.
 * Return: the entry, with *@indexp set to its index; NULL (and *@indexp left
 * alone) if no entry in [*@indexp, @max] matches.
 */
void *xa_find(struct xarray *xa, uint64_t *indexp, uint64_t max, xa_mark_t filter)
{
	struct xa_node *leaf;

	return xa_find_entry(xa, indexp, max, filter, &leaf);
}

/**
 * xa_find_after - the first entry after an index
 * @xa: the tree
 * @indexp: in: the index to start after; out: the index of the entry found
 * @max: the last index to look at
 * @filter: XA_PRESENT or XA_MARK_*
 *
 * Context: rcu_read_lock() or xa_lock held.
 * Return: as xa_find() from *@indexp + 1; NULL if *@indexp >= @max.
 */
void *xa_find_after(struct xarray *xa, uint64_t *indexp, uint64_t max, xa_mark_t filter)
{
	uint64_t index;
	void *entry;

	if (*indexp >= max)
		return NULL;
	index = *indexp + 1;
	entry = xa_find(xa, &index, max, filter);
	if (entry)
		*indexp = index;
	return entry;
}

/* Bits of a leaf at @base that lie in [@index, @max]. */
static uint64_t xa_leaf_range_bits(uint64_t base, uint64_t index, uint64_t max)
{
	uint64_t bits = UINT64_MAX << (index - base);

	if (max - base < XA_CHUNK_MASK)
		bits &= (xa_bit(max - base) << 1) - 1;
	return bits;
}

/* Entries of @leaf matching @filter at [index, max], at most @n, into the arrays. */
static unsigned xa_gang_leaf(struct xa_node *leaf, uint64_t base, uint64_t index, uint64_t max,
			     xa_mark_t filter, void **entries, uint64_t *indices, unsigned n)
{
	uint64_t range = xa_leaf_range_bits(base, index, max);
	unsigned got = 0;

	for (unsigned off = index - base; off < XA_CHUNK_SIZE && got < n; off++) {
		void *entry;

		if (!(range & xa_bit(off)))
			break;
		if (filter < XA_MAX_MARKS && !(xa_load_marks(leaf, filter) & xa_bit(off)))
			continue;
		entry = rcu_dereference(leaf->slots[off]);
		if (!xa_entry_matches(entry, filter))
			continue;
		entries[got] = entry;
		if (indices)
			indices[got] = base + off;
		got++;
	}
	return got;
}

/**
 * xa_gang_lookup - several entries at once
 * @xa: the tree
 * @start: the first index to look at
 * @max: the last index to look at
 * @filter: XA_PRESENT or XA_MARK_*
 * @entries: room for @n entries
 * @indices: room for @n indices, or NULL
 * @n: how many entries to return at most
 *
 * Fills @entries (and @indices) with the entries in [@start, @max] matching
 * @filter, in index order.
 *
 * Context: rcu_read_lock() or xa_lock held.
 * Return: the number of entries stored in @entries.
 */
unsigned xa_gang_lookup(struct xarray *xa, uint64_t start, uint64_t max, xa_mark_t filter,
			void **entries, uint64_t *indices, unsigned n)
{
	uint64_t index = start;
	unsigned got = 0;

	while (got < n) {
		struct xa_node *leaf;
		uint64_t base;

		if (!xa_find_entry(xa, &index, max, filter, &leaf))
			break;
		base = index & ~(uint64_t)XA_CHUNK_MASK;
		got += xa_gang_leaf(leaf, base, index, max, filter, entries + got,
				    indices ? indices + got : NULL, n - got);
		if (max - base <= XA_CHUNK_MASK)
			break;
		index = base + XA_CHUNK_SIZE;
	}
	return got;
}

/* ---- writers (xa_lock held) ---- */

static void *xa_leaf_erase(struct xarray *xa, struct xa_node *leaf, unsigned offset)
{
	void *old = leaf->slots[offset];

	if (!old)
		return NULL;
	xa_node_clear_all_marks(leaf, offset);
	rcu_assign_pointer(leaf->slots[offset], NULL);
	leaf->count--;
	if (xa_is_value(old))
		leaf->nr_values--;
	xa_delete_empty(xa, leaf);
	return old;
}

/**
 * __xa_erase - remove the entry at an index
 * @xa: the tree
 * @index: the index
 *
 * Nodes left empty are unlinked and freed after a grace period; the tree loses
 * height when it can.
 *
 * Context: xa_lock held; the thread is registered with RCU.
 * Return: the entry that was at @index, or NULL.
 */
void *__xa_erase(struct xarray *xa, uint64_t index)
{
	struct xa_node *leaf;

	XA_ASSERT_LOCKED(xa);
	leaf = xa_leaf(xa, index, NULL);
	if (!leaf)
		return NULL;
	return xa_leaf_erase(xa, leaf, xa_offset(index, 0));
}

static void xa_leaf_store(struct xa_node *leaf, unsigned offset, void *entry)
{
	void *old = leaf->slots[offset];

	if (old == entry)
		return;
	if (xa_is_value(entry))
		xa_node_clear_all_marks(leaf, offset);
	rcu_assign_pointer(leaf->slots[offset], entry);
	leaf->count += !old;
	leaf->nr_values += xa_is_value(entry);
	leaf->nr_values -= old && xa_is_value(old);
}

/**
 * __xa_store - store an entry at an index
 * @xa: the tree
 * @index: the index
 * @entry: a pointer aligned to 4 bytes, a value entry, or NULL to erase
 * @old: where to put the entry that was there (NULL if none); may be NULL
 *
 * A value entry or NULL clears the marks at @index; a pointer replacing a
 * pointer keeps them. Every node the store needs is allocated first, so on
 * failure the tree is unchanged.
 *
 * Context: xa_lock held; the thread is registered with RCU.
 * Return: 0, -ENOMEM if a node could not be allocated, or -EINVAL if @entry
 * looks like an internal node pointer (low bits 10).
 */
int __xa_store(struct xarray *xa, uint64_t index, void *entry, void **old)
{
	struct xa_prealloc pre;
	struct xa_node *leaf;
	void *prev;
	int err;

	XA_ASSERT_LOCKED(xa);
	if (xa_is_node(entry))
		return -EINVAL;
	if (!entry) {
		prev = __xa_erase(xa, index);
		goto out;
	}
	err = xa_prealloc_fill(&pre, xa_nodes_needed(xa, index));
	if (err)
		return err;
	xa_grow(xa, index, &pre);
	leaf = xa_leaf(xa, index, &pre);
	assert(leaf && pre.nr == 0);
	prev = leaf->slots[xa_offset(index, 0)];
	xa_leaf_store(leaf, xa_offset(index, 0), entry);
out:
	if (old)
		*old = prev;
	return 0;
}

/**
 * __xa_set_mark - mark the entry at an index
 * @xa: the tree
 * @index: the index
 * @mark: XA_MARK_*
 *
 * Does nothing if @index holds no entry or a value entry.
 *
 * Context: xa_lock held.
 */
void __xa_set_mark(struct xarray *xa, uint64_t index, xa_mark_t mark)
{
	struct xa_node *leaf;
	void *entry;

	XA_ASSERT_LOCKED(xa);
	assert(mark < XA_MAX_MARKS);
	leaf = xa_leaf(xa, index, NULL);
	if (!leaf)
		return;
	entry = leaf->slots[xa_offset(index, 0)];
	if (entry && !xa_is_value(entry))
		xa_node_set_mark(leaf, xa_offset(index, 0), mark);
}

/**
 * __xa_clear_mark - unmark the entry at an index
 * @xa: the tree
 * @index: the index
 * @mark: XA_MARK_*
 *
 * Context: xa_lock held.
 */
void __xa_clear_mark(struct xarray *xa, uint64_t index, xa_mark_t mark)
{
	struct xa_node *leaf;

	XA_ASSERT_LOCKED(xa);
	assert(mark < XA_MAX_MARKS);
	leaf = xa_leaf(xa, index, NULL);
	if (leaf)
		xa_node_clear_mark(leaf, xa_offset(index, 0), mark);
}

/* Add @bits to @leaf's @mark word and tell the ancestors if it was empty. */
static void xa_leaf_add_marks(struct xa_node *leaf, uint64_t bits, xa_mark_t mark)
{
	uint64_t had = leaf->marks[mark];

	CMM_STORE_SHARED(leaf->marks[mark], had | bits);
	if (!had && bits && leaf->parent)
		xa_node_set_mark(leaf->parent, leaf->offset, mark);
}

/* The lowest @n set bits of @bits. */
static uint64_t xa_lowest_bits(uint64_t bits, uint64_t n)
{
	uint64_t keep = 0;

	while (bits && n--) {
		keep |= bits & -bits;
		bits &= bits - 1;
	}
	return keep;
}

/**
 * __xa_tag_range - copy one mark to another over a range
 * @xa: the tree
 * @start: the first index
 * @end: the last index (inclusive)
 * @from: the mark to look for
 * @to: the mark to set
 * @limit: how many entries to tag at most (UINT64_MAX for all)
 *
 * Sets @to on the entries carrying @from in [@start, @end], lowest indices
 * first. Walks only nodes carrying @from, and sets the marks of a whole leaf at
 * once (writeback's tag-then-write step).
 *
 * Context: xa_lock held.
 * Return: the number of entries tagged (including any that already had @to).
 */
uint64_t __xa_tag_range(struct xarray *xa, uint64_t start, uint64_t end, xa_mark_t from,
			xa_mark_t to, uint64_t limit)
{
	uint64_t index = start, done = 0;

	XA_ASSERT_LOCKED(xa);
	assert(from < XA_MAX_MARKS && to < XA_MAX_MARKS);
	while (done < limit) {
		struct xa_node *leaf;
		uint64_t base, bits;

		if (!xa_find_entry(xa, &index, end, from, &leaf))
			break;
		base = index & ~(uint64_t)XA_CHUNK_MASK;
		bits = leaf->marks[from] & xa_leaf_range_bits(base, index, end);
		bits = xa_lowest_bits(bits, limit - done);
		xa_leaf_add_marks(leaf, bits, to);
		done += __builtin_popcountll(bits);
		if (end - base <= XA_CHUNK_MASK)
			break;
		index = base + XA_CHUNK_SIZE;
	}
	return done;
}

/* ---- accounting, testing ---- */

/**
 * xa_nr_nodes - nodes in one tree
 * @xa: the tree
 *
 * Context: any; without xa_lock the count may be a moment old.
 * Return: the number of nodes linked into @xa.
 */
uint64_t xa_nr_nodes(struct xarray *xa)
{
	return CMM_LOAD_SHARED(xa->xa_nodes);
}

/**
 * xa_nodes_live - nodes allocated and not yet freed, in all trees
 *
 * Nodes removed from a tree count until their grace period ends; after every
 * tree is destroyed and rcu_barrier() returns, the count is zero.
 *
 * Context: any.
 * Return: the process-wide number of live nodes.
 */
long xa_nodes_live(void)
{
	return atomic_load_explicit(&xa_live_nodes, memory_order_relaxed);
}

/**
 * xa_node_size - bytes of one node, for memory accounting
 *
 * Context: any.
 * Return: sizeof the node structure.
 */
size_t xa_node_size(void)
{
	return sizeof(struct xa_node);
}

/**
 * xa_inject_nomem - make node allocations fail (fault injection for tests)
 * @n: after @n more node allocations succeed, fail every later one; < 0 turns
 *     the fault off
 *
 * Context: any.
 */
void xa_inject_nomem(long n)
{
	atomic_store(&xa_nomem_after, n < 0 ? -1 : n);
}

static int xa_bad(const struct xa_node *node, const char *what)
{
	fprintf(stderr, "xa_verify: node %p (shift %u offset %u): %s\n", (const void *)node,
		node->shift, node->offset, what);
	return -EUCLEAN;
}

/* Check the marks of slot @i of @node against what is below it (invariant 3). */
static int xa_verify_marks(const struct xa_node *node, unsigned i)
{
	const void *entry = node->slots[i];

	for (xa_mark_t m = 0; m < XA_MAX_MARKS; m++) {
		bool set = node->marks[m] & xa_bit(i), want;

		if (node->shift)
			want = entry && xa_to_node(entry)->marks[m];
		else
			want = set && entry && !xa_is_value(entry);
		if (set != want)
			return xa_bad(node, "mark bit disagrees with the slot");
	}
	return 0;
}

static int xa_verify_node(const struct xa_node *node, uint64_t *nodes)
{
	unsigned count = 0, values = 0;
	int err;

	(*nodes)++;
	for (unsigned i = 0; i < XA_CHUNK_SIZE; i++) {
		const void *entry = node->slots[i];

		if ((err = xa_verify_marks(node, i)))
			return err;
		if (!entry)
			continue;
		count++;
		values += xa_is_value(entry);
		if (xa_is_node(entry) != (node->shift != 0))
			return xa_bad(node, "node in a leaf or entry in an internal node");
		if (!node->shift)
			continue;
		const struct xa_node *child = xa_to_node(entry);

		if (child->parent != node || child->offset != i ||
		    child->shift + XA_CHUNK_SHIFT != node->shift)
			return xa_bad(child, "parent, offset or shift wrong");
		if ((err = xa_verify_node(child, nodes)))
			return err;
	}
	if (count == 0 || count != node->count || values != node->nr_values)
		return xa_bad(node, "count or nr_values wrong, or node empty");
	return 0;
}

/**
 * xa_verify - check the tree's invariants (see the top of xarray.c)
 * @xa: the tree
 *
 * Prints the first broken invariant to stderr.
 *
 * Context: xa_lock held, or no writer running.
 * Return: 0 if the tree is consistent, -EUCLEAN if not.
 */
int xa_verify(struct xarray *xa)
{
	struct xa_node *top = xa_head_node(xa);
	uint64_t nodes = 0;
	int err;

	if (!top) {
		if (!xa->xa_nodes)
			return 0;
		fprintf(stderr, "xa_verify: empty tree counts %" PRIu64 " nodes\n", xa->xa_nodes);
		return -EUCLEAN;
	}
	if (!xa_is_node(xa->xa_head) || top->parent || top->shift > XA_MAX_SHIFT ||
	    top->shift % XA_CHUNK_SHIFT)
		return xa_bad(top, "bad top node");
	if (top->shift && top->count == 1 && top->slots[0])
		return xa_bad(top, "top node could shrink");
	if ((err = xa_verify_node(top, &nodes)))
		return err;
	if (nodes != xa->xa_nodes) {
		fprintf(stderr, "xa_verify: %" PRIu64 " nodes, counted %" PRIu64 "\n", nodes,
			xa->xa_nodes);
		return -EUCLEAN;
	}
	return 0;
}
