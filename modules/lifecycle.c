// SPDX-License-Identifier: GPL-2.0
/*
 * lifecycle.c - logs each step of its life, so insmod/rmmod and modprobe/modprobe -r
 * can be watched in the kernel log.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init lifecycle_init(void)
{
	pr_info("lifecycle: init ran, the kernel has linked me in\n");
	return 0;
}

static void __exit lifecycle_exit(void)
{
	pr_info("lifecycle: exit ran, the kernel will free my memory now\n");
}

module_init(lifecycle_init);
module_exit(lifecycle_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Logs its init and exit");
