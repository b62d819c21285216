// SPDX-License-Identifier: GPL-2.0
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static int times = 1;
module_param(times, int, 644);

static int __init nonoctal_init(void)
{
	pr_info("nonoctal: %d\n", times);
	return 0;
}
module_init(nonoctal_init);
MODULE_LICENSE("GPL");
