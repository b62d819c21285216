// SPDX-License-Identifier: GPL-2.0
/* echoparam.c - logs its string parameter between brackets, byte for byte. */
#include <linux/module.h>

static char *text = "";
module_param(text, charp, 0444);

static int __init echoparam_init(void)
{
	pr_info("echoparam: [%s]\n", text);
	return 0;
}

static void __exit echoparam_exit(void)
{
	pr_info("echoparam: bye\n");
}
module_init(echoparam_init);
module_exit(echoparam_exit);
MODULE_LICENSE("GPL");
