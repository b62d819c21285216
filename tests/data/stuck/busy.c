// SPDX-License-Identifier: GPL-2.0
/* busy.c - init takes `seconds` s but logs every 0.2 s: busy, not hung. */
#include <linux/delay.h>
#include <linux/module.h>

static int seconds = 4;
module_param(seconds, int, 0444);

static int __init busy_init(void)
{
	int i;

	for (i = 0; i < seconds * 5; i++) {
		pr_info("busy: step %d\n", i);
		msleep(200);
	}
	pr_info("busy: done\n");
	return 0;
}

static void __exit busy_exit(void)
{
}
module_init(busy_init);
module_exit(busy_exit);
MODULE_LICENSE("GPL");
