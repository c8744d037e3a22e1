/*
 * daemon/io.c - the session's custom I/O on /dev/fuse (libfuse's
 * fuse_session_custom_io): plain read() and writev(), plus two things
 * libfuse 3.14 cannot do: negotiating FUSE_DIRECT_IO_ALLOW_MMAP, and seeing
 * a write's FUSE_WRITE_KILL_SUIDGID.
 *
 * Interface (daemon/daemon.h): daemon_io_read, daemon_io_writev,
 * daemon_io_write_kills_suidgid; state in struct daemon_io.
 *
 * FUSE_DIRECT_IO_ALLOW_MMAP (init flag bit 36, bit 4 of flags2; Linux 6.6)
 * lets files opened with FOPEN_DIRECT_IO be mapped MAP_SHARED; the kernel
 * then writes back and invalidates its mapped pages around every direct
 * read and write, so read(), write() and mappings stay coherent. libfuse
 * 3.14 has no capability bit for it but passes FUSE_INIT_EXT and flags2
 * through. So:
 *   1. daemon_io_read() sees the FUSE_INIT request, notes its unique id and
 *      whether the kernel offers the flag (FUSE_INIT_EXT set and the bit in
 *      flags2).
 *   2. The init handler (fuse_ops.c) decides: with cache=daemon and the
 *      offer it sets want_mmap, otherwise it falls back to cache=kernel.
 *   3. daemon_io_writev() finds the reply with INIT's unique id and sets
 *      FUSE_INIT_EXT in flags and the bit in flags2 of struct fuse_init_out.
 * The request is read before the handler runs and the handler runs before
 * its reply is written, so the three steps are ordered by libfuse itself.
 *
 * It also keeps, per thread, the write_flags of the FUSE_WRITE request the
 * thread read last (daemon_io_write_kills_suidgid()): libfuse 3.14 passes only
 * FUSE_WRITE_CACHE of them on (fi->writepage), and fuse_ops.c needs
 * FUSE_WRITE_KILL_SUIDGID, which the kernel sets on a direct I/O write by a
 * caller without CAP_FSETID. A libfuse worker reads a request and runs its
 * handler on the same thread, so the value seen is that request's.
 *
 * For tests, FOLIOFS_TEST_NO_ALLOW_MMAP=1 in the environment makes the
 * daemon behave as on a kernel that does not offer the flag.
 *
 * This file includes the kernel's <linux/fuse.h> and not libfuse's headers.
 */
#include "config.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon/daemon.h"

/* Older uapi headers (Debian 12's) lack it: bit 36 of the init flags. */
#define DAEMON_FUSE_DIRECT_IO_ALLOW_MMAP_FLAGS2 (1U << (36 - 32))

#define INIT_IN_FLAGS2_END  (offsetof(struct fuse_init_in, flags2) + sizeof(uint32_t))
#define INIT_OUT_FLAGS2_END (offsetof(struct fuse_init_out, flags2) + sizeof(uint32_t))

/* write_flags of the last request this thread read (0 unless FUSE_WRITE) */
static _Thread_local uint32_t io_write_flags;

static void io_note_init(struct daemon_io *io, const void *buf, size_t len)
{
	const struct fuse_in_header *in = buf;
	const struct fuse_init_in *arg = (const void *)(in + 1);
	bool offer = false;

	if (len >= sizeof(*in) + INIT_IN_FLAGS2_END && (arg->flags & FUSE_INIT_EXT))
		offer = arg->flags2 & DAEMON_FUSE_DIRECT_IO_ALLOW_MMAP_FLAGS2;
	if (getenv("FOLIOFS_TEST_NO_ALLOW_MMAP"))
		offer = false;
	atomic_store(&io->kernel_mmap, offer);
	atomic_store(&io->init_unique, in->unique);
}

/**
 * daemon_io_read - read one request from /dev/fuse
 * @fd: the session's (or a cloned) /dev/fuse descriptor
 * @buf: the request buffer
 * @len: its size
 * @userdata: the struct daemon
 *
 * Context: a libfuse worker thread; a cancellation point (read()).
 * Return: as read(2).
 */
ssize_t daemon_io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct daemon *d = userdata;
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	io_write_flags = 0;
	if (n < (ssize_t)sizeof(*in))
		return n;
	if (in->opcode == FUSE_WRITE && (size_t)n >= sizeof(*in) + sizeof(struct fuse_write_in))
		io_write_flags = ((const struct fuse_write_in *)(in + 1))->write_flags;
	else if (in->opcode == FUSE_INIT)
		io_note_init(&d->io, buf, (size_t)n);
	return n;
}

/**
 * daemon_io_write_kills_suidgid - does the write being handled carry
 * FUSE_WRITE_KILL_SUIDGID?
 *
 * Context: a libfuse worker thread, inside the write handler of the request
 * it read last.
 * Return: true when that request is a FUSE_WRITE with the flag (the kernel
 * sets it on a direct I/O write by a caller without CAP_FSETID).
 */
bool daemon_io_write_kills_suidgid(void)
{
	return io_write_flags & FUSE_WRITE_KILL_SUIDGID;
}

/* Is this the successful reply to FUSE_INIT, with room for flags2? */
static bool io_is_init_reply(struct daemon_io *io, const struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	uint64_t unique = atomic_load(&io->init_unique);

	return count >= 2 && unique && iov[0].iov_len >= sizeof(*out) && out->unique == unique &&
	       out->error == 0 && iov[1].iov_len >= INIT_OUT_FLAGS2_END;
}

/**
 * daemon_io_writev - write one reply or notification to /dev/fuse
 * @fd: the descriptor
 * @iov: header first, then the payload
 * @count: entries in @iov
 * @userdata: the struct daemon
 *
 * The reply to FUSE_INIT gets FUSE_DIRECT_IO_ALLOW_MMAP when the init
 * handler asked for it (see the top of this file); everything else passes
 * through unchanged.
 *
 * Context: any thread that replies or notifies.
 * Return: as writev(2).
 */
ssize_t daemon_io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct daemon *d = userdata;
	struct daemon_io *io = &d->io;

	if (atomic_load(&io->want_mmap) && !atomic_load(&io->patched) &&
	    io_is_init_reply(io, iov, count)) {
		struct fuse_init_out *arg = iov[1].iov_base;

		arg->flags |= FUSE_INIT_EXT;
		arg->flags2 |= DAEMON_FUSE_DIRECT_IO_ALLOW_MMAP_FLAGS2;
		atomic_store(&io->patched, true);
	}
	return writev(fd, iov, count);
}
