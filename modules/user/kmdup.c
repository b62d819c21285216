// SPDX-License-Identifier: GPL-2.0
/*
 * kmdup.c - uses a device as programs do: opens it, makes a second descriptor for the
 * same open file with dup() (a shell does that for every redirection), closes that
 * copy, and goes on with the first one, which is still open:
 *
 *   kmdup DEVICE
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/types.h>

struct kms_info {
	__u32 id;
	__u64 total;
	__u16 adds;
};

#define KMS_ADD		_IOW('k', 0x11, __u32)
#define KMS_GET		_IOR('k', 0x12, struct kms_info)

static void get(int fd)
{
	struct kms_info info;

	if (ioctl(fd, KMS_GET, &info) < 0) {
		perror("KMS_GET");
		exit(1);
	}
	printf("KMS_GET: session %u, total %llu after %u additions\n", info.id,
	       (unsigned long long)info.total, info.adds);
}

int main(int argc, char **argv)
{
	__u32 amount = 42;
	int fd, copy;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	if (ioctl(fd, KMS_ADD, &amount) < 0) {
		perror("KMS_ADD");
		return 1;
	}
	get(fd);

	copy = dup(fd);
	close(copy);
	printf("dup() then close() of the copy; the open file is still open as fd %d\n", fd);
	fflush(stdout);
	get(fd);

	close(fd);
	printf("closed fd %d too\n", fd);
	return 0;
}
