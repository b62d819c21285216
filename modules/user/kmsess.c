// SPDX-License-Identifier: GPL-2.0
/*
 * kmsess.c - /dev/kmsession's ioctls from a program: two open()s of the device, each
 * with a session of its own; a child process that shares one of them through fork();
 * and the answers to a command the device does not know, to a known command with the
 * wrong size, and to an argument at a bad address.
 */
#define _GNU_SOURCE	/* for strerrorname_np() */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/types.h>

struct kms_info {
	__u32 id;
	__u64 total;
	__u16 adds;
};

#define KMS_RESET	_IO('k', 0x10)
#define KMS_ADD		_IOW('k', 0x11, __u32)
#define KMS_GET		_IOR('k', 0x12, struct kms_info)
#define KMS_SWAP	_IOWR('k', 0x13, __u64)

static void add(const char *who, int fd, __u32 amount)
{
	if (ioctl(fd, KMS_ADD, &amount) < 0) {
		perror("KMS_ADD");
		exit(1);
	}
	printf("%s: KMS_ADD %u\n", who, amount);
}

static void get(const char *who, int fd)
{
	struct kms_info info;

	if (ioctl(fd, KMS_GET, &info) < 0) {
		perror("KMS_GET");
		exit(1);
	}
	printf("%s: KMS_GET: session %u, total %llu after %u additions\n", who, info.id,
	       (unsigned long long)info.total, info.adds);
}

static void expect_error(const char *what, int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	printf("%s: %d %s (%s)\n", what, ret, ret < 0 ? strerrorname_np(errno) : "",
	       ret < 0 ? strerror(errno) : "no error");
}

int main(void)
{
	int a = open("/dev/kmsession", O_RDWR);
	int b = open("/dev/kmsession", O_RDWR);
	__u64 value = 7;
	__u32 small;

	if (a < 0 || b < 0) {
		perror("open /dev/kmsession");
		return 1;
	}
	add("A", a, 5);
	add("A", a, 10);
	add("B", b, 100);
	get("A", a);
	get("B", b);

	fflush(stdout);		/* or the child would print the parent's buffered lines again */
	if (fork() == 0) {	/* the child gets copies of the descriptors, not new open()s */
		add("A in a child", a, 1000);
		exit(0);
	}
	wait(NULL);
	get("A", a);

	if (ioctl(a, KMS_SWAP, &value) < 0) {
		perror("KMS_SWAP");
		return 1;
	}
	printf("A: KMS_SWAP 7: the old total was %llu\n", (unsigned long long)value);
	get("A", a);

	expect_error("unknown command _IO('k', 0x7f)", a, _IO('k', 0x7f), NULL);
	expect_error("KMS_GET's number with size 4", a, _IOR('k', 0x12, __u32), &small);
	expect_error("KMS_GET into a bad address", a, KMS_GET, (void *)8);
	close(a);
	close(b);
	return 0;
}
