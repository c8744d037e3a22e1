/*
 * daemon/ctl_proto.h - the control protocol shared by the daemon (daemon/ctl_server.c)
 * and its client (tools/ctl.c, foliofs-ctl). Nothing else: the client does
 * not link the filesystem.
 *
 * Socket: unix stream, abstract namespace, named CTL_SOCKET_FMT with the
 * mount's device number (major, minor of stat(MOUNTPOINT).st_dev).
 * Request: one line ("stats", "get KEY", "set KEY=VALUE", "drop-caches",
 * "sync"). Answer: lines of output, then "OK" or "ERR <exit code> <message>";
 * the daemon closes the connection after it.
 */
#ifndef FOLIO_DAEMON_CTL_PROTO_H
#define FOLIO_DAEMON_CTL_PROTO_H

#define CTL_SOCKET_FMT "foliofs-ctl/%u:%u"

#endif /* FOLIO_DAEMON_CTL_PROTO_H */
