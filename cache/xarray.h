/*
 * cache/xarray.h - a radix tree keyed by 64-bit page index, with marks and
 * RCU lookups.
 *
 * Interface: xa_init/xa_destroy; writers (__xa_store, __xa_erase,
 * __xa_set_mark, __xa_clear_mark, __xa_tag_range) hold xa_lock; readers
 * (xa_load, xa_find, xa_find_after, xa_get_mark, xa_marked, xa_gang_lookup and
 * the xa_for_each_* loops) run inside rcu_read_lock() of liburcu's default
 * flavour, or with xa_lock held. xa_lock()/xa_unlock() take the lock (plain
 * pthread_mutex_lock(&xa->xa_lock) works too). Accounting: xa_nr_nodes,
 * xa_nodes_live, xa_node_size. For tests: xa_verify checks every invariant,
 * xa_inject_nomem makes node allocation fail.
 *
 * Entries: a pointer aligned to at least 4 bytes, or a value entry made by
 * xa_mk_value(). NULL means "no entry"; storing NULL erases. Pointers whose two
 * low bits are 10 are reserved for the tree's own nodes and are refused.
 *
 * Marks: XA_MARK_DIRTY, XA_MARK_WRITEBACK and XA_MARK_TOWRITE. Only pointer
 * entries carry marks; storing NULL or a value entry at an index clears its
 * marks, replacing a pointer by a pointer keeps them.
 *
 * Threads that write, destroy or free through the tree must be registered with
 * rcu_register_thread(): removed nodes are freed by call_rcu() after a grace
 * period, so a reader inside one never sees freed memory. An entry removed from
 * the tree may still be seen by readers that started before the removal; the
 * caller frees entries only after a grace period of its own.
 */
#ifndef FOLIO_CACHE_XARRAY_H
#define FOLIO_CACHE_XARRAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Index bits resolved by one node, and slots per node. */
#define XA_CHUNK_SHIFT 6
#define XA_CHUNK_SIZE  (1U << XA_CHUNK_SHIFT)
#define XA_CHUNK_MASK  (XA_CHUNK_SIZE - 1)

/* A mark number (0 .. XA_MAX_MARKS-1), or XA_PRESENT as a find filter. */
typedef unsigned xa_mark_t;
#define XA_MARK_DIRTY	  0U
#define XA_MARK_WRITEBACK 1U
#define XA_MARK_TOWRITE	  2U
#define XA_MAX_MARKS	  3U
/* Find filter: any non-NULL entry, value entries included. */
#define XA_PRESENT 8U

/*
 * struct xarray - one tree.
 *
 * xa_lock serialises writers; readers take no lock. xa_head is NULL or the top
 * node (even index 0 lives in a node).
 */
struct xarray {
	pthread_mutex_t xa_lock; /* the writers' lock */
	void *xa_head;		 /* top node; written under xa_lock, read under RCU */
	uint64_t xa_nodes;	 /* nodes in the tree; written under xa_lock */
};

/**
 * xa_mk_value - make a value entry
 * @v: the value, below 2^63
 *
 * Context: any.
 * Return: an entry that xa_is_value() recognises and that never aliases a pointer.
 */
static inline void *xa_mk_value(uint64_t v)
{
	return (void *)(uintptr_t)((v << 1) | 1);
}

/**
 * xa_is_value - tell a value entry from a pointer
 * @entry: an entry (may be NULL)
 *
 * Context: any.
 * Return: true if @entry was made by xa_mk_value().
 */
static inline bool xa_is_value(const void *entry)
{
	return (uintptr_t)entry & 1;
}

/**
 * xa_to_value - the value a value entry holds
 * @entry: an entry for which xa_is_value() is true
 *
 * Context: any.
 * Return: the value given to xa_mk_value().
 */
static inline uint64_t xa_to_value(const void *entry)
{
	return (uint64_t)(uintptr_t)entry >> 1;
}

void xa_init(struct xarray *xa);
void xa_destroy(struct xarray *xa);
void xa_lock(struct xarray *xa);
void xa_unlock(struct xarray *xa);
bool xa_lock_held(struct xarray *xa);
bool xa_empty(const struct xarray *xa);

void *xa_load(struct xarray *xa, uint64_t index);
int __xa_store(struct xarray *xa, uint64_t index, void *entry, void **old);
void *__xa_erase(struct xarray *xa, uint64_t index);

void __xa_set_mark(struct xarray *xa, uint64_t index, xa_mark_t mark);
void __xa_clear_mark(struct xarray *xa, uint64_t index, xa_mark_t mark);
bool xa_get_mark(struct xarray *xa, uint64_t index, xa_mark_t mark);
bool xa_marked(struct xarray *xa, xa_mark_t mark);

void *xa_find(struct xarray *xa, uint64_t *indexp, uint64_t max, xa_mark_t filter);
void *xa_find_after(struct xarray *xa, uint64_t *indexp, uint64_t max, xa_mark_t filter);
unsigned xa_gang_lookup(struct xarray *xa, uint64_t start, uint64_t max, xa_mark_t filter,
			void **entries, uint64_t *indices, unsigned n);
uint64_t __xa_tag_range(struct xarray *xa, uint64_t start, uint64_t end, xa_mark_t from,
			xa_mark_t to, uint64_t limit);

uint64_t xa_nr_nodes(struct xarray *xa);
long xa_nodes_live(void);
size_t xa_node_size(void);

void xa_inject_nomem(long n);
int xa_verify(struct xarray *xa);

/*
 * xa_for_each_range - loop over every entry in [@start, @max]
 *
 * @index (uint64_t) and @entry (void *) are the loop variables. The caller holds
 * rcu_read_lock() or xa_lock; under RCU an entry stored or erased during the
 * loop may or may not be seen. The loop ends correctly at UINT64_MAX.
 */
#define xa_for_each_range(xa, index, entry, start, max)                                            \
	for ((index) = (start), (entry) = xa_find((xa), &(index), (max), XA_PRESENT); (entry);     \
	     (entry) = xa_find_after((xa), &(index), (max), XA_PRESENT))

/*
 * xa_for_each_marked - loop over every entry in [@start, @max] carrying @mark
 *
 * Same rules as xa_for_each_range().
 */
#define xa_for_each_marked(xa, index, entry, start, max, mark)                                     \
	for ((index) = (start), (entry) = xa_find((xa), &(index), (max), (mark)); (entry);         \
	     (entry) = xa_find_after((xa), &(index), (max), (mark)))

#endif /* FOLIO_CACHE_XARRAY_H */
