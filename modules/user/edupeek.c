// SPDX-License-Identifier: GPL-2.0
/*
 * edupeek.c - maps /dev/edumap's DMA buffer and uses it in place:
 *
 *   edupeek TEXT   put TEXT at the start of the page, have the device fetch it
 *                  (RAM -> device), then store it back into the page at offset 2048
 *                  (device -> RAM), and print what is there: what the device wrote
 *   edupeek -m N   only try to map N bytes, and say what mmap() answered
 *                  (edupeek -m N OFF: N bytes from offset OFF of the device)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

struct edumap_xfer {
	__u32 ram_off;
	__u32 dev_off;
	__u32 len;
};
#define EDUMAP_TO_DEVICE	_IOW('E', 1, struct edumap_xfer)
#define EDUMAP_FROM_DEVICE	_IOW('E', 2, struct edumap_xfer)

#define PAGE	4096
#define BACK	2048	/* where the device writes the text back */

int main(int argc, char **argv)
{
	struct edumap_xfer x;
	size_t size = PAGE;
	off_t offset = 0;
	char *page;
	int fd;

	if ((argc == 3 || argc == 4) && strcmp(argv[1], "-m") == 0) {
		size = strtoul(argv[2], NULL, 0);
		if (argc == 4)
			offset = strtol(argv[3], NULL, 0);
	} else if (argc != 2 || strlen(argv[1]) >= BACK) {
		fprintf(stderr, "usage: %s TEXT | -m SIZE [OFFSET]\n", argv[0]);
		return 2;
	}
	fd = open("/dev/edumap", O_RDWR);
	if (fd < 0) {
		perror("open /dev/edumap");
		return 1;
	}
	page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	if (page == MAP_FAILED) {
		printf("mmap of %zu bytes: %s\n", size, strerror(errno));
		return 1;
	}
	printf("mmap of %zu bytes: mapped\n", size);
	if (argc >= 3)
		return 0;

	memset(page + BACK, 0, PAGE - BACK);
	strcpy(page, argv[1]);
	x = (struct edumap_xfer){ .ram_off = 0, .dev_off = 0, .len = strlen(argv[1]) + 1 };
	if (ioctl(fd, EDUMAP_TO_DEVICE, &x) < 0) {
		perror("ioctl EDUMAP_TO_DEVICE");
		return 1;
	}
	x.ram_off = BACK;
	if (ioctl(fd, EDUMAP_FROM_DEVICE, &x) < 0) {
		perror("ioctl EDUMAP_FROM_DEVICE");
		return 1;
	}
	printf("the device wrote at offset %d: %s\n", BACK, page + BACK);
	munmap(page, size);
	close(fd);
	return 0;
}
