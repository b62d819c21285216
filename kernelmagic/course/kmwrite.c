// SPDX-License-Identifier: MIT
/*
 * kmwrite - write to a file as careful programs do, and say what each write() returned.
 *   kmwrite PATH HEX [HEX...]   one open(); each HEX is one message, written with write(),
 *                               the rest of it again after a short write
 *   kmwrite PATH --fault N      one write() of N bytes from an address no program owns
 * Each write() prints "write ASKED RETURNED" or "write ASKED -1 ERRNO_NAME".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZERO_TRIES 50

static int report(size_t asked, ssize_t got)
{
	if (got < 0) {
		printf("write %zu -1 %s\n", asked, strerrorname_np(errno));
		return -1;
	}
	printf("write %zu %zd\n", asked, got);
	return 0;
}

static int unhex(const char *hex, unsigned char *out)
{
	size_t i, n = strlen(hex) / 2;

	for (i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
	return (int)n;
}

int main(int argc, char **argv)
{
	static unsigned char buf[65536];
	int fd, i, zeros = 0;

	if (argc < 3)
		return 2;
	fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		printf("open -1 %s\n", strerrorname_np(errno));
		return 1;
	}
	if (strcmp(argv[2], "--fault") == 0 && argc == 4) {
		size_t n = strtoul(argv[3], NULL, 10);

		report(n, write(fd, (const void *)16, n));
		return 0;
	}
	for (i = 2; i < argc; i++) {
		size_t len = unhex(argv[i], buf), done = 0;

		do {
			ssize_t got = write(fd, buf + done, len - done);

			if (report(len - done, got) < 0)
				return 0;
			zeros = got == 0 ? zeros + 1 : 0;
			if (zeros == ZERO_TRIES) {
				printf("zeros %d\n", zeros);
				return 0;
			}
			done += got;
		} while (done < len);
	}
	close(fd);
	return 0;
}
