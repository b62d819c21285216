// SPDX-License-Identifier: GPL-2.0
/*
 * kmchar_ctl.c - a user-space program for /dev/kmchar's ioctls, built statically on
 * the host so it runs in the lab VM as is:  kmchar_ctl getlen | clear
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KMCHAR_CLEAR	_IO('k', 1)
#define KMCHAR_GETLEN	_IOR('k', 2, int)

int main(int argc, char **argv)
{
	int fd, len;

	if (argc != 2) {
		fprintf(stderr, "usage: %s getlen|clear\n", argv[0]);
		return 2;
	}
	fd = open("/dev/kmchar", O_RDWR);
	if (fd < 0) {
		perror("open /dev/kmchar");
		return 1;
	}
	if (strcmp(argv[1], "clear") == 0) {
		if (ioctl(fd, KMCHAR_CLEAR) < 0) {
			perror("ioctl KMCHAR_CLEAR");
			return 1;
		}
		printf("cleared\n");
	} else if (strcmp(argv[1], "getlen") == 0) {
		if (ioctl(fd, KMCHAR_GETLEN, &len) < 0) {
			perror("ioctl KMCHAR_GETLEN");
			return 1;
		}
		printf("length %d\n", len);
	} else {
		fprintf(stderr, "unknown command %s\n", argv[1]);
		return 2;
	}
	close(fd);
	return 0;
}
