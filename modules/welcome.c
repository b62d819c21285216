// SPDX-License-Identifier: GPL-2.0
/*
 * welcome.c - proves that our code runs inside the lab VM's kernel, not the host's:
 * it prints the release and machine of the kernel it was loaded into.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/utsname.h>

static int __init welcome_init(void)
{
	/* TODO: print the kernel's release and machine (init_utsname()) with pr_info() */
	/* BEGIN SOLUTION */
	pr_info("welcome: running in Linux %s on %s\n",
		init_utsname()->release, init_utsname()->machine);
	/* END SOLUTION */
	return 0;
}

static void __exit welcome_exit(void)
{
	pr_info("welcome: bye\n");
}

module_init(welcome_init);
module_exit(welcome_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Says which kernel it was loaded into");
