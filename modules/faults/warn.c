// SPDX-License-Identifier: GPL-2.0
/*
 * warn.c - FAULT ON PURPOSE: a WARN_ON() that fires. The kernel prints a
 * "WARNING: ... at warn.c" report with a stack trace, taints itself (W) and carries on;
 * the module loads normally.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static int budget = -1;
module_param(budget, int, 0444);
MODULE_PARM_DESC(budget, "Must not be negative (default -1, which triggers the warning)");

static int __init warn_init(void)
{
	if (WARN_ON(budget < 0))
		budget = 0;
	pr_info("warn: budget is %d\n", budget);
	return 0;
}

static void __exit warn_exit(void)
{
}

module_init(warn_init);
module_exit(warn_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Triggers WARN_ON in init");
