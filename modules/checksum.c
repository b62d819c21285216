// SPDX-License-Identifier: GPL-2.0
/*
 * checksum.c - the exercise of lesson 03: a module of your own that needs one of the
 * kernel's modules. It calls crc16(), which lib/crc16.ko exports, so depmod records
 * crc16 as its dependency and modprobe loads crc16 first; insmod alone would fail
 * with "Unknown symbol crc16".
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/crc16.h>
#include <linux/string.h>

static char *text = "kernel";
module_param(text, charp, 0444);
MODULE_PARM_DESC(text, "The text to checksum (default: kernel)");

static int __init checksum_init(void)
{
	u16 crc = 0;

	/* TODO: set crc to crc16(0, text, strlen(text)), from <linux/crc16.h> */
	/* BEGIN SOLUTION */
	crc = crc16(0, (const u8 *)text, strlen(text));
	/* END SOLUTION */
	pr_info("checksum: crc16 of \"%s\" is 0x%04x\n", text, crc);
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
MODULE_DESCRIPTION("Logs the CRC-16 of a text, using the crc16 module");
