/*
 * daemon/notify.c - the notifier thread: tells the kernel to drop pages
 * of its own page cache that an operation made stale.
 *
 * Interface (daemon/daemon.h): daemon_notify_start, daemon_notify_inval,
 * daemon_notify_stop.
 *
 * Handlers queue an invalidation (inode, byte range) and reply; this thread
 * sends fuse_lowlevel_notify_inval_inode() for each. A handler must never
 * notify itself before its reply: the kernel may hold a lock the
 * invalidation needs (a page lock, the inode lock) until the reply comes, so
 * the two would wait for each other. Queued ranges of the same inode that
 * follow each other are merged. The kernel also invalidates by itself after
 * truncate, punch hole and copy_file_range on recent kernels; the
 * notifications make the result right on any kernel and in both cache
 * modes, at the cost of one message per change.
 *
 * Invariants: the queue and the flags are protected by notify.lock; the
 * thread sends with no lock held. After daemon_notify_stop() nothing is
 * queued or sent (the session's descriptor may be closed after it).
 */
#include "config.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

static struct daemon_inval *notify_pop(struct daemon_notifier *n)
{
	struct daemon_inval *e;

	pthread_mutex_lock(&n->lock);
	while (!n->head && !n->stop)
		pthread_cond_wait(&n->wake, &n->lock);
	e = n->head;
	if (e) {
		n->head = e->next;
		if (!n->head)
			n->tail = NULL;
	}
	pthread_mutex_unlock(&n->lock);
	return e;
}

static void *notify_thread(void *arg)
{
	struct daemon *d = arg;
	struct daemon_notifier *n = &d->notify;
	struct daemon_inval *e;

	while ((e = notify_pop(n))) {
		int err = fuse_lowlevel_notify_inval_inode(d->se, e->ino, e->off, e->len);

		/* -ENOENT: the kernel has forgotten the inode; nothing cached. */
		if (err && err != -ENOENT)
			atomic_fetch_add(&n->failed, 1);
		else
			atomic_fetch_add(&n->sent, 1);
		free(e);
	}
	return NULL;
}

/**
 * daemon_notify_start - start the notifier thread
 * @d: the daemon; d->se is set
 *
 * Context: main thread, before the session loop.
 * Return: 0 or a negative errno.
 */
int daemon_notify_start(struct daemon *d)
{
	struct daemon_notifier *n = &d->notify;
	int err;

	cache_mutex_init(&n->lock);
	pthread_cond_init(&n->wake, NULL);
	n->head = n->tail = NULL;
	n->stop = false;
	err = pthread_create(&n->thread, NULL, notify_thread, d);
	if (err) {
		pthread_cond_destroy(&n->wake);
		pthread_mutex_destroy(&n->lock);
		return -err;
	}
	n->running = true;
	return 0;
}

/* Merge into the newest entry when it is the same inode and the ranges
 * touch; lock held. */
static bool notify_merge(struct daemon_inval *t, uint64_t ino, int64_t off, int64_t len)
{
	int64_t tend = t->len ? t->off + t->len : INT64_MAX;
	int64_t end = len ? off + len : INT64_MAX;

	if (t->ino != ino || off > tend || end < t->off)
		return false;
	if (off < t->off)
		t->off = off;
	if (end > tend)
		tend = end;
	t->len = tend == INT64_MAX ? 0 : tend - t->off;
	return true;
}

/**
 * daemon_notify_inval - queue a kernel page-cache invalidation
 * @d: the daemon
 * @ino: the inode (FUSE node id)
 * @off: first byte
 * @len: bytes, 0 for everything from @off to the end of the file
 *
 * The kernel's cached attributes of the inode are dropped too.
 *
 * Context: any handler while the session loop runs, before or after its
 * reply; takes notify.lock. Without memory for the entry the invalidation
 * is lost and counted in notify.failed.
 */
void daemon_notify_inval(struct daemon *d, uint64_t ino, int64_t off, int64_t len)
{
	struct daemon_notifier *n = &d->notify;
	struct daemon_inval *e = malloc(sizeof(*e));

	pthread_mutex_lock(&n->lock);
	if (n->stop || !n->running) {
		pthread_mutex_unlock(&n->lock);
		free(e);
		return;
	}
	if (n->tail && notify_merge(n->tail, ino, off, len)) {
		pthread_mutex_unlock(&n->lock);
		free(e);
		return;
	}
	if (!e) {
		pthread_mutex_unlock(&n->lock);
		atomic_fetch_add(&n->failed, 1);
		return;
	}
	*e = (struct daemon_inval){.ino = ino, .off = off, .len = len};
	if (n->tail)
		n->tail->next = e;
	else
		n->head = e;
	n->tail = e;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
}

/**
 * daemon_notify_stop - drop what is queued and stop the thread
 * @d: the daemon
 *
 * Context: main thread, after the session loop ended and before the
 * session's descriptor is closed.
 */
void daemon_notify_stop(struct daemon *d)
{
	struct daemon_notifier *n = &d->notify;
	struct daemon_inval *e;

	if (!n->running)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	while ((e = n->head)) {
		n->head = e->next;
		free(e);
	}
	n->tail = NULL;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	n->running = false;
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
}
