// SPDX-License-Identifier: GPL-2.0
/*
 * oops.c - FAULT ON PURPOSE: writes through a NULL pointer in init. The kernel
 * prints an oops naming oops_mod_init, kills insmod, and stays up, tainted (D).
 * Restart the lab VM afterwards for a clean kernel.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init oops_mod_init(void)
{
	int *volatile p = NULL;

	pr_info("oops: about to write through a NULL pointer\n");
	*p = 42;
	return 0;
}

static void __exit oops_mod_exit(void)
{
}

module_init(oops_mod_init);
module_exit(oops_mod_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Oopses in init (NULL pointer write)");
