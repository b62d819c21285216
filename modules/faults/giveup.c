// SPDX-License-Identifier: GPL-2.0
/*
 * giveup.c - FAULT ON PURPOSE: calls panic() in init. An oops kills the task that hit
 * it and lets the kernel go on, tainted; panic() stops the whole machine: the console
 * shows "Kernel panic - not syncing: giveup: ...", and with panic=-1 on the command
 * line (as in the lab VM) the machine reboots at once. A module never has a reason to
 * do this: it returns an error, or WARNs, and lets the system decide.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/panic.h>

static int __init giveup_init(void)
{
	pr_info("giveup: about to stop the machine\n");
	panic("giveup: a module decided the machine must stop");
	return 0;
}

static void __exit giveup_exit(void)
{
}

module_init(giveup_init);
module_exit(giveup_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Calls panic() in init");
