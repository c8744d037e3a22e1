/*
 * tools/ctl.c - foliofs-ctl: talk to the daemon serving a foliofs mount.
 *
 *   foliofs-ctl MOUNTPOINT stats | get KEY | set KEY=VALUE | drop-caches |
 *                          reclaim SIZE | sync
 *   foliofs-ctl MOUNTPOINT mark LABEL   (test-only: -o debug_logwrites mounts)
 *
 * Finds the daemon's control socket from the mount's device number
 * (stat(MOUNTPOINT).st_dev: the abstract unix socket
 * "foliofs-ctl/MAJOR:MINOR", see daemon/ctl_server.c), sends one request line and
 * prints the answer's lines. Exit status: 0 done; 1 the daemon refused or
 * failed the request (unknown key, bad value, permission, I/O error); 2 a
 * bad command line, or MOUNTPOINT is not a foliofs mount.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
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

/* Connect to the daemon of the mount holding @path; -1 with a message. */
static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, n;

	if (stat(path, &st)) {
		fprintf(stderr, "foliofs-ctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, CTL_SOCKET_FMT, major(st.st_dev),
		     minor(st.st_dev));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("foliofs-ctl: socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n))) {
		fprintf(stderr,
			"foliofs-ctl: %s is not a foliofs mount (no daemon answers for it)\n",
			path);
		close(fd);
		return -1;
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

/* Print the output lines and turn the status line into an exit code. */
static int show_answer(char *text)
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
	fprintf(stderr, "foliofs-ctl: no answer from the daemon\n");
	return 1;
}

int main(int argc, char **argv)
{
	char *req, *answer;
	int fd, ret;

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
		return 2;
	}
	if (ctl_send_all(fd, req, strlen(req))) {
		fprintf(stderr, "foliofs-ctl: cannot send to the daemon: %s\n", strerror(errno));
		ret = 1;
	} else {
		answer = read_all(fd);
		ret = answer ? show_answer(answer) : 1;
		free(answer);
	}
	close(fd);
	free(req);
	fflush(stdout);
	return ret;
}
