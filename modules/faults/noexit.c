// SPDX-License-Identifier: GPL-2.0
/*
 * noexit.c - FAULT ON PURPOSE: an init function and no exit function. The kernel
 * cannot know how to undo what such a module's init did, so it never unloads it:
 * /proc/modules marks it [permanent], and rmmod fails with "Device or resource busy".
 * Only rmmod -f (CONFIG_MODULE_FORCE_UNLOAD, which taints the kernel R) or a reboot
 * removes it.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init noexit_init(void)
{
	pr_info("noexit: loaded, and I have no exit function\n");
	return 0;
}

module_init(noexit_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Has an init function but no exit function");
