// SPDX-License-Identifier: GPL-2.0
/*
 * kmpeek.c - every byte that KMS_GET copies to the program, padding included:
 *
 *   kmpeek [-q] DEVICE [CALLS]
 *
 * Shows the bytes of the first call field by field, then how many of CALLS calls
 * (default 1000) brought padding bytes that are not zero. The kernel never wrote
 * those: they are what its stack held. -q prints only the verdict.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/types.h>

struct kms_info {
	__u32 id;
	__u64 total;
	__u16 adds;
};

#define KMS_GET		_IOR('k', 0x12, struct kms_info)

static const struct {
	const char *name;
	size_t offset, size;
} parts[] = {
	{ "id", offsetof(struct kms_info, id), 4 },
	{ "padding", 4, 4 },
	{ "total", offsetof(struct kms_info, total), 8 },
	{ "adds", offsetof(struct kms_info, adds), 2 },
	{ "padding", 18, sizeof(struct kms_info) - 18 },
};

static int padding_is_zero(const unsigned char *bytes)
{
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (size_t j = 0; j < parts[i].size; j++)
			if (!strcmp(parts[i].name, "padding") && bytes[parts[i].offset + j])
				return 0;
	return 1;
}

int main(int argc, char **argv)
{
	int quiet = argc > 1 && !strcmp(argv[1], "-q");
	const char *device = argv[1 + quiet];
	int calls = argc > 2 + quiet ? atoi(argv[2 + quiet]) : 1000;
	unsigned char bytes[sizeof(struct kms_info)];
	int fd, dirty = 0;

	if (!device) {
		fprintf(stderr, "usage: %s [-q] DEVICE [CALLS]\n", argv[0]);
		return 2;
	}
	fd = open(device, O_RDONLY);
	if (fd < 0) {
		perror(device);
		return 1;
	}
	for (int call = 0; call < calls; call++) {
		memset(bytes, 0, sizeof(bytes));	/* what we see is what the kernel sent */
		if (ioctl(fd, KMS_GET, bytes) < 0) {
			perror("KMS_GET");
			return 1;
		}
		if (call == 0 && !quiet) {
			printf("struct kms_info, %zu bytes, as the kernel sent them:\n", sizeof(bytes));
			for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
				printf("  %-8s", parts[i].name);
				for (size_t j = 0; j < parts[i].size; j++)
					printf(" %02x", bytes[parts[i].offset + j]);
				putchar('\n');
			}
		}
		dirty += !padding_is_zero(bytes);
	}
	if (!quiet)
		printf("calls whose padding was not all zero: %d of %d\n", dirty, calls);
	printf("%s: %s\n", device, dirty ? "the padding carried kernel stack bytes to user space"
					 : "the padding was zero every time");
	close(fd);
	return 0;
}
