// SPDX-License-Identifier: GPL-2.0
/*
 * whoami.c - a module that looks at itself: its name and state, as the kernel keeps
 * them in struct module (THIS_MODULE), which is also what /sys/module/NAME shows.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init whoami_init(void)
{
	/* TODO: print THIS_MODULE->name and whether its state is MODULE_STATE_COMING */
	/* BEGIN SOLUTION */
	pr_info("whoami: I am %s, state %s\n", THIS_MODULE->name,
		THIS_MODULE->state == MODULE_STATE_COMING ? "coming" : "other");
	/* END SOLUTION */
	return 0;
}

static void __exit whoami_exit(void)
{
	pr_info("whoami: %s leaving\n", THIS_MODULE->name);
}

module_init(whoami_init);
module_exit(whoami_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Prints its own name and load state");
