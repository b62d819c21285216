// SPDX-License-Identifier: GPL-2.0
/* flood.c - init logs `lines` messages in a row, then one warning. */
#include <linux/module.h>
#include <linux/sched.h>

static int lines = 100000;
module_param(lines, int, 0444);

static int __init flood_init(void)
{
	int i;

	for (i = 0; i < lines; i++) {
		pr_info("flood: line %d\n", i);
		if (i % 1000 == 0)
			cond_resched();
	}
	pr_warn("flood: done after %d lines\n", lines);
	return 0;
}

static void __exit flood_exit(void)
{
}
module_init(flood_init);
module_exit(flood_exit);
MODULE_LICENSE("GPL");
