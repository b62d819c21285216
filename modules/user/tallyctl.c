// SPDX-License-Identifier: GPL-2.0
/*
 * tallyctl.c - tries /dev/kmtally's ioctls and prints one line for each answer:
 *
 *   tallyctl AMOUNT
 *
 * Opens the device twice (A and B), adds AMOUNT and 1 through A and 2 through B, reads
 * both tallies, reads A's 1000 times more looking at the padding, then sends an
 * unknown command and an ADD whose argument is at a bad address.
 */
#define _GNU_SOURCE	/* for strerrorname_np() */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/types.h>

struct kmtally_info {
	__u32 count;
	__u64 sum;
};

#define KMTALLY_ADD	_IOW('t', 1, __u32)
#define KMTALLY_GET	_IOR('t', 2, struct kmtally_info)

static const char *result(int ret)
{
	return ret < 0 ? strerrorname_np(errno) : "0";
}

static void add(const char *who, int fd, __u32 amount)
{
	printf("%s: KMTALLY_ADD %u: %s\n", who, amount, result(ioctl(fd, KMTALLY_ADD, &amount)));
}

static void get(const char *who, int fd)
{
	struct kmtally_info info;
	int ret = ioctl(fd, KMTALLY_GET, &info);

	if (ret < 0)
		printf("%s: KMTALLY_GET: %s\n", who, result(ret));
	else
		printf("%s: KMTALLY_GET: count %u, sum %llu\n", who, info.count,
		       (unsigned long long)info.sum);
}

int main(int argc, char **argv)
{
	unsigned char bytes[sizeof(struct kmtally_info)];
	int a, b, dirty = 0, failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s AMOUNT\n", argv[0]);
		return 2;
	}
	a = open("/dev/kmtally", O_RDWR);
	b = open("/dev/kmtally", O_RDWR);
	if (a < 0 || b < 0) {
		perror("open /dev/kmtally");
		return 1;
	}
	add("A", a, strtoul(argv[1], NULL, 0));
	add("A", a, 1);
	add("B", b, 2);
	get("A", a);
	get("B", b);

	for (int i = 0; i < 1000; i++) {
		memset(bytes, 0, sizeof(bytes));
		if (ioctl(a, KMTALLY_GET, bytes) < 0) {
			failed++;
			continue;
		}
		for (size_t j = 4; j < 8; j++)	/* the padding between count and sum */
			if (bytes[j]) {
				dirty++;
				break;
			}
	}
	if (failed)
		printf("padding: KMTALLY_GET failed\n");
	else
		printf("padding: %s\n", dirty ? "not zero: kernel stack bytes leaked" : "zero");

	printf("unknown command: %s\n", result(ioctl(a, _IO('t', 99))));
	printf("KMTALLY_ADD from a bad address: %s\n", result(ioctl(a, KMTALLY_ADD, (void *)8)));
	close(a);
	close(b);
	return 0;
}
