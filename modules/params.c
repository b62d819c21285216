// SPDX-License-Identifier: GPL-2.0
/*
 * params.c - one parameter of each common kind: int, bool, charp and an int array.
 * The permission bits decide what /sys/module/params/parameters/ shows: 0644 is
 * readable by all and writable by root at run time, 0444 read-only, 0 hidden.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static int count = 1;
module_param(count, int, 0644);
MODULE_PARM_DESC(count, "How many times to greet (int, writable at run time)");

static bool loud;
module_param(loud, bool, 0644);
MODULE_PARM_DESC(loud, "Shout the greeting (bool: Y/N, 1/0)");

static char *who = "world";
module_param(who, charp, 0444);
MODULE_PARM_DESC(who, "Who to greet (string, read-only in sysfs)");

static int nums[4];
static int nums_count;
module_param_array(nums, int, &nums_count, 0444);
MODULE_PARM_DESC(nums, "Up to four numbers, comma separated");

static int __init params_init(void)
{
	int i, sum = 0;

	for (i = 0; i < count && i < 5; i++)
		pr_info("params: %s, %s%s\n", loud ? "HELLO" : "hello", who, loud ? "!" : ".");
	for (i = 0; i < nums_count; i++)
		sum += nums[i];
	pr_info("params: %d numbers, sum %d\n", nums_count, sum);
	return 0;
}

static void __exit params_exit(void)
{
	pr_info("params: count was %d at unload\n", count);
}

module_init(params_init);
module_exit(params_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Module parameters of each kind");
