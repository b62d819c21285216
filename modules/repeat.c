// SPDX-License-Identifier: GPL-2.0
/*
 * repeat.c - the exercise of lesson 04: declare two parameters yourself. Until they
 * are declared, insmod logs "unknown parameter ... ignored" for each, and nothing
 * appears under /sys/module/repeat/parameters.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static char *word = "hello";
static int times = 1;

/* TODO: make word a charp parameter that sysfs shows read-only (0444) and times an
 * int parameter that root may change at run time (0644), each with a MODULE_PARM_DESC */
/* BEGIN SOLUTION */
module_param(word, charp, 0444);
MODULE_PARM_DESC(word, "The word to say (string, read-only in sysfs)");
module_param(times, int, 0644);
MODULE_PARM_DESC(times, "How many times to say it, at most 5 (int, writable)");
/* END SOLUTION */

static int __init repeat_init(void)
{
	int i;

	for (i = 0; i < times && i < 5; i++)
		pr_info("repeat: %d: %s\n", i + 1, word);
	return 0;
}

static void __exit repeat_exit(void)
{
	pr_info("repeat: times is %d at unload\n", times);
}

module_init(repeat_init);
module_exit(repeat_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Says a word a number of times");
