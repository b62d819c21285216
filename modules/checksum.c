// SPDX-License-Identifier: GPL-2.0
/*
 * checksum.c - the exercise of lesson 03: a module of your own that needs one of the
 * kernel's modules. It logs two checksums of a text: a CRC-16 with crc16(), which the
 * module lib/crc16.ko exports, and a CRC-32 with crc32_le(), which is built into the
 * kernel. Only the first makes a dependency: depmod records crc16 for checksum, and
 * modprobe loads crc16 first (insmod alone would fail with "Unknown symbol crc16");
 * a symbol of the kernel image itself is always there.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/crc16.h>
#include <linux/crc32.h>
#include <linux/string.h>

static char *text = "kernel";
module_param(text, charp, 0444);
MODULE_PARM_DESC(text, "The text to checksum (default: kernel)");

static int __init checksum_init(void)
{
	u16 crc16_value = 0;
	u32 crc32_value = 0;

	/* TODO: set crc16_value to the CRC-16 of the text's bytes and crc32_value to
	 * their CRC-32 (little-endian), each computed with start value 0 by the kernel's
	 * function for it */
	/* BEGIN SOLUTION */
	crc16_value = crc16(0, (const u8 *)text, strlen(text));
	crc32_value = crc32_le(0, (const unsigned char *)text, strlen(text));
	/* END SOLUTION */
	pr_info("checksum: crc16 of \"%s\" is 0x%04x\n", text, crc16_value);
	pr_info("checksum: crc32 of \"%s\" is 0x%08x\n", text, crc32_value);
	return 0;
}

static void __exit checksum_exit(void)
{
	pr_info("checksum: done\n");
}

module_init(checksum_init);
module_exit(checksum_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Logs the CRC-16 and CRC-32 of a text");
