// SPDX-License-Identifier: GPL-2.0
/*
 * squares.c - the exercise of lesson 06: a pr_fmt prefix, a pr_debug message that
 * dynamic debug switches on (insmod squares.ko dyndbg=+p), and a result in the log.
 */
/* TODO: define pr_fmt(fmt) so that every message of this file starts with "squares: " */
/* BEGIN SOLUTION */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
/* END SOLUTION */

#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static int steps = 3;
module_param(steps, int, 0444);
MODULE_PARM_DESC(steps, "Add up the squares of 1 .. steps");

static int __init squares_init(void)
{
	int i, total = 0;

	for (i = 1; i <= steps; i++) {
		/* TODO: add i * i to total, and log "I squared is S" with pr_debug() */
		/* BEGIN SOLUTION */
		pr_debug("%d squared is %d\n", i, i * i);
		total += i * i;
		/* END SOLUTION */
	}
	pr_info("sum of squares up to %d is %d\n", steps, total);
	return 0;
}

static void __exit squares_exit(void)
{
	pr_info("unloaded\n");
}

module_init(squares_init);
module_exit(squares_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Sums squares, with pr_fmt and pr_debug");
