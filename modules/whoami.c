// SPDX-License-Identifier: GPL-2.0
/*
 * whoami.c - a module that looks at itself: its name and state, as the kernel keeps
 * them in struct module (THIS_MODULE), which is also what /sys/module/NAME shows.
 * The state is MODULE_STATE_COMING while init runs, MODULE_STATE_LIVE once init has
 * returned 0, and MODULE_STATE_GOING while exit runs.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init whoami_init(void)
{
	/* TODO: print "whoami: I am NAME, state coming" with the module's own name, and
	 * "coming" only if its state really is the one of a module whose init runs
	 * ("other" otherwise) */
	/* BEGIN SOLUTION */
	pr_info("whoami: I am %s, state %s\n", THIS_MODULE->name,
		THIS_MODULE->state == MODULE_STATE_COMING ? "coming" : "other");
	/* END SOLUTION */
	return 0;
}

static void __exit whoami_exit(void)
{
	/* TODO: print "whoami: NAME leaving, state going" the same way, "going" only if
	 * the state is the one of a module being unloaded */
	/* BEGIN SOLUTION */
	pr_info("whoami: %s leaving, state %s\n", THIS_MODULE->name,
		THIS_MODULE->state == MODULE_STATE_GOING ? "going" : "other");
	/* END SOLUTION */
}

module_init(whoami_init);
module_exit(whoami_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Prints its own name and load state");
