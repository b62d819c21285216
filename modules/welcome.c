// SPDX-License-Identifier: GPL-2.0
/*
 * welcome.c - proves that our code runs inside the lab VM's kernel, not the host's:
 * it prints the release and machine of the kernel it was loaded into, and the name of
 * the machine that kernel runs on.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/utsname.h>

static int __init welcome_init(void)
{
	/* TODO: with pr_info(), print two lines: "welcome: running in Linux RELEASE on
	 * MACHINE", then "welcome: this machine is called NODENAME", taking the three
	 * words from the kernel's own uname data (<linux/utsname.h>) */
	/* BEGIN SOLUTION */
	pr_info("welcome: running in Linux %s on %s\n",
		init_utsname()->release, init_utsname()->machine);
	pr_info("welcome: this machine is called %s\n", init_utsname()->nodename);
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
