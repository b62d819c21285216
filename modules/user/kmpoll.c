// SPDX-License-Identifier: GPL-2.0
/*
 * kmpoll.c - wait with poll() until one of the DEVICEs can be read without blocking,
 * for at most TIMEOUT_MS milliseconds, then read from each device that is ready:
 *
 *   kmpoll TIMEOUT_MS DEVICE...
 *
 * The devices are opened with O_NONBLOCK, as programs that poll do: a read after
 * poll() said POLLIN should not block, and if another reader was faster, it fails
 * with EAGAIN instead of hanging the whole program.
 */
#define _GNU_SOURCE	/* for strerrorname_np() */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEVICES 8

int main(int argc, char **argv)
{
	struct pollfd fds[MAX_DEVICES];
	int i, ready, timeout, count = argc - 2;
	char buf[256];

	if (count < 1 || count > MAX_DEVICES) {
		fprintf(stderr, "usage: %s TIMEOUT_MS DEVICE...\n", argv[0]);
		return 2;
	}
	timeout = atoi(argv[1]);
	for (i = 0; i < count; i++) {
		fds[i].fd = open(argv[i + 2], O_RDONLY | O_NONBLOCK);
		if (fds[i].fd < 0) {
			perror(argv[i + 2]);
			return 1;
		}
		fds[i].events = POLLIN;
	}

	ready = poll(fds, count, timeout);
	if (ready < 0) {
		perror("poll");
		return 1;
	}
	if (ready == 0) {
		printf("poll: nothing to read within %d ms\n", timeout);
		return 0;
	}
	for (i = 0; i < count; i++) {
		ssize_t n;
		int len;

		if (!(fds[i].revents & POLLIN))
			continue;
		n = read(fds[i].fd, buf, sizeof(buf));
		if (n < 0) {
			printf("poll: %s readable, but read: %s\n", argv[i + 2], strerrorname_np(errno));
			continue;
		}
		len = n;
		while (len > 0 && buf[len - 1] == '\n')
			len--;
		printf("poll: %s readable; read %zd bytes, \"%.*s\"\n", argv[i + 2], n, len, buf);
	}
	return 0;
}
