/*
 * tools/ctl.c - foliofs-ctl: talk to the daemon serving a foliofs mount.
 *
 *   foliofs-ctl MOUNTPOINT stats | get KEY | set KEY=VALUE | drop-caches |
 *                          reclaim SIZE | sync
 *   foliofs-ctl MOUNTPOINT mark LABEL   (test-only: -o debug_logwrites mounts)
 *
 * Finds the daemon's control socket (daemon/ctl_proto.h) and checks who answers it
 * before sending anything:
 *   1. stat(MOUNTPOINT).st_dev (for another user's mount, which stat cannot see
 *      without allow_other, not even as root: the newest mount on MOUNTPOINT in
 *      /proc/self/mountinfo), and the FUSE mount with that device number there: its
 *      owner is its user_id= option.
 *   2. The socket MAJOR:MINOR.sock in the owner's directory: /run/foliofs for root,
 *      else /run/user/UID/foliofs (first $XDG_RUNTIME_DIR/foliofs when the caller is
 *      the owner; $FOLIOFS_CTL_DIR instead when set). The directory must pass
 *      ctl_dir_check for the owner's uid, and the file must be a socket of that uid.
 *   3. After connecting: SO_PEERCRED's uid must be the owner's, and the daemon's
 *      hello line must name SO_PEERCRED's pid and the device number of step 1.
 * Then it sends one request line and prints the answer's lines. Exit status: 0 done;
 * 1 the daemon refused or failed the request (unknown key, bad value, permission, I/O
 * error, too many connections); 2 a bad command line, or MOUNTPOINT is not a foliofs
 * mount (or its socket cannot be reached); 3 (CTL_EXIT_UNTRUSTED) a check of steps 2
 * or 3 failed: the socket is not the mount's daemon's, nothing was sent.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/ctl_proto.h"

#define RESPONSE_MAX (1 << 20)

static void usage(FILE *f)
{
	fputs("usage: foliofs-ctl MOUNTPOINT stats | get KEY | set KEY=VALUE | drop-caches |\n"
	      "                   reclaim SIZE | sync\n"
	      "       foliofs-ctl MOUNTPOINT mark LABEL   (test only: a mount with "
	      "debug_logwrites)\n"
	      "keys: cache_size, readahead, dirty_ratio, dirty_background_ratio, dirty_bytes,\n"
	      "      dirty_background_bytes, dirty_expire_centisecs, dirty_writeback_centisecs,\n"
	      "      wb_max_bytes, wb_fill_bytes, zswap, zswap_max_pool_percent,\n"
	      "      zswap_accept_threshold_percent, zswap_compressor,\n"
	      "      zswap_max_compressed_percent, zswap_admission (settable); cache_max,\n"
	      "      cache, pid, image, mountpoint\n",
	      f);
}

/* The request line for the command words, or NULL for a bad command. */
static char *make_request(int argc, char **argv)
{
	const char *cmd = argv[0];
	char *req = NULL;

	if (argc == 1 &&
	    (!strcmp(cmd, "stats") || !strcmp(cmd, "drop-caches") || !strcmp(cmd, "sync")))
		return asprintf(&req, "%s\n", cmd) < 0 ? NULL : req;
	if (argc == 2 && !strcmp(cmd, "reclaim") && !strchr(argv[1], '\n'))
		return asprintf(&req, "reclaim %s\n", argv[1]) < 0 ? NULL : req;
	if (argc == 2 && !strcmp(cmd, "get") && !strchr(argv[1], '\n'))
		return asprintf(&req, "get %s\n", argv[1]) < 0 ? NULL : req;
	if (argc == 2 && !strcmp(cmd, "set") && strchr(argv[1], '=') && !strchr(argv[1], '\n'))
		return asprintf(&req, "set %s\n", argv[1]) < 0 ? NULL : req;
	if (argc == 2 && !strcmp(cmd, "mark") && argv[1][0] && !strchr(argv[1], '\n'))
		return asprintf(&req, "mark %s\n", argv[1]) < 0 ? NULL : req;
	return NULL;
}

/* What foliofs-ctl found out about the mount it was given. */
struct ctl_target {
	const char *mnt; /* as given */
	unsigned major, minor;
	uid_t owner; /* the mount's user_id= */
	char sock[PATH_MAX + 64];
};

/* One mountinfo line: a FUSE mount with our device number? Sets its owner. */
static bool mountinfo_owner(char *line, const struct ctl_target *t, uid_t *owner)
{
	char *sep = strstr(line, " - "), *save = NULL, *opt;
	char type[256], source[4096], super[4096];
	unsigned maj, min;

	if (!sep || sscanf(line, "%*s %*s %u:%u", &maj, &min) != 2 || maj != t->major ||
	    min != t->minor)
		return false;
	if (sscanf(sep + 3, "%255s %4095s %4095s", type, source, super) != 3 ||
	    (strcmp(type, "fuse") && strncmp(type, "fuse.", 5)))
		return false;
	for (opt = strtok_r(super, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v;

		if (strncmp(opt, "user_id=", 8))
			continue;
		v = strtoul(opt + 8, &end, 10);
		if (end == opt + 8 || *end || v > UINT32_MAX - 1)
			return false;
		*owner = (uid_t)v;
		return true;
	}
	return false;
}

/* stat() of another user's FUSE mount fails with EACCES, even for root (without
 * allow_other): take the device number of the newest mount on @t->mnt from
 * /proc/self/mountinfo instead. @t->mnt must name the mount point itself. */
static int find_dev_by_path(struct ctl_target *t)
{
	char want[PATH_MAX], mp[PATH_MAX], *line = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	unsigned maj, min;
	size_t cap = 0, n;
	int ret = -1;

	if (!f)
		return -1;
	if (t->mnt[0] == '/')
		snprintf(want, sizeof(want), "%s", t->mnt);
	else if (!getcwd(mp, sizeof(mp)) || snprintf(want, sizeof(want), "%s/%s", mp, t->mnt) < 0)
		want[0] = '\0';
	for (n = strlen(want); n > 1 && want[n - 1] == '/';)
		want[--n] = '\0';
	while (want[0] && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mp) != 3)
			continue;
		ctl_unescape(mp);
		if (strcmp(mp, want))
			continue;
		t->major = maj;
		t->minor = min;
		ret = 0;
	}
	free(line);
	fclose(f);
	errno = EACCES; /* for the caller's message when not found */
	return ret;
}

/* The owner of the FUSE mount with @t's device number (/proc/self/mountinfo). */
static int find_owner(struct ctl_target *t)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret && getline(&line, &cap, f) > 0)
		if (mountinfo_owner(line, t, &t->owner))
			ret = 0;
	free(line);
	fclose(f);
	return ret;
}

/* Where the daemon of a mount owned by @t->owner puts its socket: the directories to
 * look in, in order (daemon/ctl_sock.c). Returns how many. */
static int socket_dirs(const struct ctl_target *t, char dirs[2][PATH_MAX])
{
	const char *env = getenv(CTL_DIR_ENV), *xdg = getenv("XDG_RUNTIME_DIR");
	int n = 0;

	if (env && *env) {
		snprintf(dirs[0], PATH_MAX, "%s", env);
		return 1;
	}
	if (t->owner == 0) {
		snprintf(dirs[0], PATH_MAX, "%s", CTL_RUN_DIR);
		return 1;
	}
	/* Another user's XDG_RUNTIME_DIR is not known here; one's own is. */
	if (t->owner == getuid() && xdg && xdg[0] == '/')
		snprintf(dirs[n++], PATH_MAX, "%s/foliofs", xdg);
	snprintf(dirs[n++], PATH_MAX, CTL_USER_DIR_FMT, (unsigned)t->owner);
	return n;
}

/* Find the socket file and check it and its directory (ctl_dir_check): 0, or the exit
 * status with a message. */
static int find_socket(struct ctl_target *t)
{
	char dirs[2][PATH_MAX], why[PATH_MAX + 128];
	int n = socket_dirs(t, dirs), i, err = -ENOENT;
	struct stat st;

	for (i = 0; i < n && err == -ENOENT; i++) {
		if (snprintf(t->sock, sizeof(t->sock), "%s/" CTL_SOCKET_NAME_FMT, dirs[i], t->major,
			     t->minor) >= (int)sizeof(t->sock))
			err = -ENAMETOOLONG;
		else
			err = lstat(t->sock, &st) ? -errno : 0;
	}
	if (err == -ENOENT) {
		fprintf(stderr,
			"foliofs-ctl: %s is not a foliofs mount or its daemon has no control "
			"socket (no %s)\n",
			t->mnt, t->sock);
		return 2;
	}
	if (err) {
		fprintf(stderr, "foliofs-ctl: cannot reach %s: %s (the mount belongs to uid %ld)\n",
			t->sock, strerror(-err), (long)t->owner);
		return 2;
	}
	err = ctl_dir_check(dirs[i - 1], t->owner, why, sizeof(why));
	if (err) {
		fprintf(stderr, "foliofs-ctl: refusing the control socket of %s: %s\n", t->mnt,
			why);
		return err == -EPERM ? CTL_EXIT_UNTRUSTED : 2;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_uid != t->owner) {
		fprintf(stderr,
			"foliofs-ctl: refusing %s: not a socket of uid %ld (the mount's owner)\n",
			t->sock, (long)t->owner);
		return CTL_EXIT_UNTRUSTED;
	}
	return 0;
}

/* Read the daemon's hello line, one byte at a time (nothing after it is consumed). */
static int read_hello(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

/* Is the server on @fd the daemon of the mount (daemon/ctl_proto.h)? 0, or the exit
 * status with a message. */
static int check_server(int fd, const struct ctl_target *t)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char hello[CTL_HELLO_MAX];
	unsigned maj, min;
	long pid;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen)) {
		fprintf(stderr, "foliofs-ctl: SO_PEERCRED: %s\n", strerror(errno));
		return 2;
	}
	if (cred.uid != t->owner) {
		fprintf(stderr,
			"foliofs-ctl: refusing the server on %s: it runs as uid %ld, but %s "
			"belongs to uid %ld\n",
			t->sock, (long)cred.uid, t->mnt, (long)t->owner);
		return CTL_EXIT_UNTRUSTED;
	}
	if (read_hello(fd, hello, sizeof(hello))) {
		fprintf(stderr, "foliofs-ctl: no answer from the daemon on %s\n", t->sock);
		return 1;
	}
	if (sscanf(hello, "foliofs-ctl 1 pid=%ld dev=%u:%u", &pid, &maj, &min) != 3 ||
	    pid != (long)cred.pid || maj != t->major || min != t->minor) {
		fprintf(stderr,
			"foliofs-ctl: refusing the server on %s: it is pid %ld and says \"%.60s\", "
			"not the daemon of device %u:%u\n",
			t->sock, (long)cred.pid, hello, t->major, t->minor);
		return CTL_EXIT_UNTRUSTED;
	}
	return 0;
}

/* Connect to the daemon of the mount holding @path and check who answers: the socket
 * (or a negative exit status, with a message). */
static int ctl_connect(const char *path)
{
	struct ctl_target t = {.mnt = path};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, ret;

	if (!stat(path, &st)) {
		t.major = major(st.st_dev);
		t.minor = minor(st.st_dev);
	} else if (errno != EACCES || find_dev_by_path(&t)) {
		fprintf(stderr, "foliofs-ctl: %s: %s\n", path, strerror(errno));
		return -2;
	}
	if (find_owner(&t)) {
		fprintf(stderr, "foliofs-ctl: %s is not a foliofs mount (not a FUSE mount)\n",
			path);
		return -2;
	}
	ret = find_socket(&t);
	if (ret)
		return -ret;
	if (strlen(t.sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "foliofs-ctl: %s: name too long for a socket\n", t.sock);
		return -2;
	}
	strcpy(sa.sun_path, t.sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("foliofs-ctl: socket");
		return -2;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr,
			"foliofs-ctl: %s is not a foliofs mount (no daemon answers on %s: %s)\n",
			path, t.sock, strerror(errno));
		close(fd);
		return -2;
	}
	ret = check_server(fd, &t);
	if (ret) {
		close(fd);
		return -ret;
	}
	return fd;
}

/* Read the whole answer (the daemon closes when done). */
static char *read_all(int fd)
{
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap + 1);

	while (buf) {
		ssize_t r = read(fd, buf + len, cap - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == cap && cap < RESPONSE_MAX) {
			char *nb = realloc(buf, 2 * cap + 1);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Print the output lines and turn the status line into an exit code; @send_err: the
 * request could not be sent (errno). */
static int show_answer(char *text, int send_err)
{
	size_t len = strlen(text);
	char *last;

	if (len && text[len - 1] == '\n')
		text[--len] = '\0';
	last = strrchr(text, '\n');
	last = last ? last + 1 : text;
	fwrite(text, 1, (size_t)(last - text), stdout);
	if (!strcmp(last, "OK"))
		return 0;
	if (!strncmp(last, "ERR ", 4)) {
		char *msg = strchr(last + 4, ' ');
		int code = atoi(last + 4);

		fprintf(stderr, "foliofs-ctl: %s\n", msg ? msg + 1 : "failed");
		return code > 0 ? code : 1;
	}
	if (send_err)
		fprintf(stderr, "foliofs-ctl: cannot send to the daemon: %s\n", strerror(send_err));
	else
		fprintf(stderr, "foliofs-ctl: no answer from the daemon\n");
	return 1;
}

int main(int argc, char **argv)
{
	char *req, *answer;
	int fd, ret, send_err;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	req = argc >= 3 ? make_request(argc - 2, argv + 2) : NULL;
	if (!req) {
		usage(stderr);
		return 2;
	}
	fd = ctl_connect(argv[1]);
	if (fd < 0) {
		free(req);
		return -fd;
	}
	/* A daemon that refuses the connection (too many open) has answered already. */
	send_err = ctl_send_all(fd, req, strlen(req)) ? errno : 0;
	answer = read_all(fd);
	ret = answer ? show_answer(answer, send_err) : 1;
	free(answer);
	close(fd);
	free(req);
	fflush(stdout);
	return ret;
}
