// SPDX-License-Identifier: GPL-2.0
/* rawbytes.c - logs bytes that are not UTF-8, and UTF-8 that is. */
#include <linux/module.h>

static int __init rawbytes_init(void)
{
	pr_info("rawbytes: \xff\xfe end\n");
	pr_info("rawbytes: Gr\xc3\xbc\xc3\x9f" "e\n");
	return 0;
}

static void __exit rawbytes_exit(void)
{
}
module_init(rawbytes_init);
module_exit(rawbytes_exit);
MODULE_LICENSE("GPL");
