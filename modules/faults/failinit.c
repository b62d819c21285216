// SPDX-License-Identifier: GPL-2.0
/*
 * failinit.c - FAULT ON PURPOSE: init returns -ENOMEM. insmod fails with
 * "Cannot allocate memory", and the kernel frees the module at once: it never
 * appears in lsmod and its exit function never runs.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init failinit_init(void)
{
	pr_info("failinit: pretending an allocation failed\n");
	return -ENOMEM;
}

static void __exit failinit_exit(void)
{
	pr_info("failinit: never printed\n");
}

module_init(failinit_init);
module_exit(failinit_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Init fails with -ENOMEM");
