/*
 * daemon/ctl_proto.h - the control protocol shared by the daemon (daemon/ctl_server.c)
 * and its client (tools/ctl.c, foliofs-ctl). Nothing else: the client does
 * not link the filesystem.
 *
 * Socket: unix stream, abstract namespace, named CTL_SOCKET_FMT with the
 * mount's device number (major, minor of stat(MOUNTPOINT).st_dev).
 * Request: one line ("stats", "get KEY", "set KEY=VALUE", "drop-caches",
 * "sync", and the test-only "mark LABEL"). Answer: lines of output, then "OK" or "ERR <exit code>
 * <message>"; the daemon closes the connection after it. Both sides send with ctl_send_all().
 */
#ifndef FOLIO_DAEMON_CTL_PROTO_H
#define FOLIO_DAEMON_CTL_PROTO_H

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define CTL_SOCKET_FMT "foliofs-ctl/%u:%u"

/* Send all of @buf on the socket (a request or an answer), retrying after
 * signals; never raises SIGPIPE. Returns 0, or -1 when the peer is gone. */
static inline int ctl_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

#endif /* FOLIO_DAEMON_CTL_PROTO_H */
