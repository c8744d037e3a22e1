/*
 * backing/internal.h - helpers shared by the backends, not part of the device
 * interface.
 *
 * bdev_iov_len() checks an iovec array and sums it; every backend calls it
 * first so that all of them reject the same malformed requests alike.
 */
#ifndef FOLIO_BACKING_INTERNAL_H
#define FOLIO_BACKING_INTERNAL_H

#include <stdint.h>
#include <sys/uio.h>

int bdev_iov_len(const struct iovec *iov, int iovcnt, uint64_t *len);

#endif /* FOLIO_BACKING_INTERNAL_H */
