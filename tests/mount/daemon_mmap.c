/*
 * tests/mount/daemon_mmap.c - MAP_SHARED coherence checks between two
 * processes, for tests/mount/daemon-basic.sh.
 *
 *   daemon_mmap store-read FILE   this process stores bytes through a
 *                                 MAP_SHARED mapping (no msync); a child
 *                                 process opens FILE and read()s them back
 *   daemon_mmap write-map FILE    this process maps FILE and reads the
 *                                 mapping; a child write()s new bytes; the
 *                                 mapping must show them
 *
 * FILE must exist; it is grown to two pages when smaller. Prints one line;
 * exit 0 when the bytes match, 1 when they do not, 2 on an error.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAP_LEN	  8192
#define STORE_OFF 100
#define WRITE_OFF (4096 + 200)

static int fail(const char *what)
{
	perror(what);
	return 2;
}

/* Child: read @len bytes at @off of @path and compare with @want. */
static int child_read(const char *path, off_t off, const char *want, size_t len)
{
	char got[128] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0 || pread(fd, got, len, off) != (ssize_t)len)
		return 2;
	close(fd);
	if (memcmp(got, want, len)) {
		printf("read() in another process sees '%.*s', want '%s'\n", (int)len, got, want);
		return 1;
	}
	return 0;
}

static int child_write(const char *path, off_t off, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || pwrite(fd, data, len, off) != (ssize_t)len)
		return 2;
	return close(fd) ? 2 : 0;
}

/* In a child: the read check (mode 0) or the write (mode 1); its exit code. */
static int in_child(int mode, const char *path, const char *s)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 2;
	if (pid == 0)
		_exit(mode ? child_write(path, WRITE_OFF, s, strlen(s))
			   : child_read(path, STORE_OFF, s, strlen(s)));
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return 2;
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	char tag[64];
	struct stat st;
	char *p;
	int fd, ret;

	if (argc != 3 || (strcmp(argv[1], "store-read") && strcmp(argv[1], "write-map"))) {
		fprintf(stderr, "usage: daemon_mmap store-read|write-map FILE\n");
		return 2;
	}
	fd = open(argv[2], O_RDWR);
	if (fd < 0 || fstat(fd, &st))
		return fail(argv[2]);
	if (st.st_size < MAP_LEN && ftruncate(fd, MAP_LEN))
		return fail("ftruncate");
	p = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return fail("mmap");
	snprintf(tag, sizeof(tag), "%s-%ld", argv[1], (long)getpid());
	if (!strcmp(argv[1], "store-read")) {
		memcpy(p + STORE_OFF, tag, strlen(tag)); /* no msync */
		ret = in_child(0, argv[2], tag);
	} else {
		volatile char c = p[WRITE_OFF]; /* fault the page in first */

		(void)c;
		ret = in_child(1, argv[2], tag);
		if (!ret && memcmp(p + WRITE_OFF, tag, strlen(tag))) {
			printf("the mapping sees '%.*s' after write(), want '%s'\n",
			       (int)strlen(tag), p + WRITE_OFF, tag);
			ret = 1;
		}
	}
	if (!ret)
		printf("%s: coherent\n", argv[1]);
	munmap(p, MAP_LEN);
	close(fd);
	return ret;
}
