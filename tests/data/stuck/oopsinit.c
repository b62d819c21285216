// SPDX-License-Identifier: GPL-2.0
/* oopsinit.c - init writes through NULL unless fixed=1: the oops leaves it [Loading]. */
#include <linux/module.h>

static int fixed;
module_param(fixed, int, 0444);

static int __init oopsinit_init(void)
{
	int *volatile p = NULL;

	if (!fixed)
		*p = 1;
	pr_info("oopsinit: loaded\n");
	return 0;
}

static void __exit oopsinit_exit(void)
{
	pr_info("oopsinit: unloaded\n");
}
module_init(oopsinit_init);
module_exit(oopsinit_exit);
MODULE_LICENSE("GPL");
