// SPDX-License-Identifier: GPL-2.0
/*
 * iocbits.c - what an ioctl command number is made of. _IO, _IOR, _IOW and _IOWR pack
 * four fields into 32 bits:
 *
 *   bits 31-30  direction: none, write (program to kernel), read (kernel to program)
 *   bits 29-16  size of the argument, in bytes (sizeof the type given to the macro)
 *   bits 15-8   type: one letter or number for the driver
 *   bits  7-0   number of the command within that type
 *
 * This program prints kmsession's four commands and two older ones, split into those
 * fields by _IOC_DIR(), _IOC_SIZE(), _IOC_TYPE() and _IOC_NR().
 */
#include <stdio.h>
#include <sys/ioctl.h>
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

static const char *direction(unsigned int cmd)
{
	switch (_IOC_DIR(cmd)) {
	case _IOC_NONE:
		return "none";
	case _IOC_WRITE:
		return "write";
	case _IOC_READ:
		return "read";
	default:
		return "read+write";
	}
}

static void bits(unsigned int value, int from, int to)
{
	for (int i = from; i >= to; i--)
		putchar(value >> i & 1 ? '1' : '0');
}

static void show(const char *name, unsigned int cmd)
{
	printf("%-10s 0x%08x  %-10s %4u  '%c'  0x%02x  ", name, cmd, direction(cmd),
	       _IOC_SIZE(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd));
	bits(cmd, 31, 30);
	putchar(' ');
	bits(cmd, 29, 16);
	putchar(' ');
	bits(cmd, 15, 8);
	putchar(' ');
	bits(cmd, 7, 0);
	putchar('\n');
}

int main(void)
{
	printf("%-10s %-10s  %-10s %4s  %-4s %-5s dir size           type     nr\n",
	       "command", "number", "direction", "size", "type", "nr");
	show("KMS_RESET", KMS_RESET);
	show("KMS_ADD", KMS_ADD);
	show("KMS_GET", KMS_GET);
	show("KMS_SWAP", KMS_SWAP);
	show("TCGETS", TCGETS);		/* a terminal's: older than the scheme */
	show("FIONREAD", FIONREAD);	/* bytes waiting to be read: older too */
	return 0;
}
