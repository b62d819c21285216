// SPDX-License-Identifier: GPL-2.0
/* oopsexit.c - exit writes through NULL: the oops leaves it [Unloading] for good. */
#include <linux/module.h>

static int __init oopsexit_init(void)
{
	return 0;
}

static void __exit oopsexit_exit(void)
{
	int *volatile p = NULL;

	*p = 1;
}
module_init(oopsexit_init);
module_exit(oopsexit_exit);
MODULE_LICENSE("GPL");
