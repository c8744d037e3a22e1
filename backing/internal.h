/*
 * backing/internal.h - helpers shared by the backends, not part of the device
 * interface.
 *
 * bdev_iov_len() checks an iovec array and sums it; every backend calls it
 * first so that all of them reject the same malformed requests alike.
 * bdev_mutex_init() makes the wrappers' locks (faulty.c, logwrites.c) as
 * the cache makes its own, one layer up.
 */
#ifndef FOLIO_BACKING_INTERNAL_H
#define FOLIO_BACKING_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

int bdev_iov_len(const struct iovec *iov, int iovcnt, uint64_t *len);
/* A wrapper's mutex: error-checking in debug builds; 0 or a negative errno. */
int bdev_mutex_init(pthread_mutex_t *m);

#endif /* FOLIO_BACKING_INTERNAL_H */
