// SPDX-License-Identifier: GPL-2.0
/*
 * ladder.c - the exercise of lesson 07: an init that allocates three buffers and,
 * when a step fails, frees exactly what it had allocated (goto-unwind), and an exit
 * that frees all three. fail_at=N makes step N fail on purpose, as in unwind.c.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#define LADDER_SIZE 1000	/* bytes in each buffer */

static int fail_at;
module_param(fail_at, int, 0444);
MODULE_PARM_DESC(fail_at, "Make step 1, 2 or 3 of init fail (0: none)");

static char *first, *second, *third;

static int __init ladder_init(void)
{
	int step = 1;	/* the step being tried, for the message when one fails */

	first = fail_at == 1 ? NULL : kmalloc(LADDER_SIZE, GFP_KERNEL);
	if (!first)
		goto out;
	step = 2;
	second = fail_at == 2 ? NULL : kmalloc(LADDER_SIZE, GFP_KERNEL);
	if (!second)
		goto out_first;
	step = 3;
	third = fail_at == 3 ? NULL : kmalloc(LADDER_SIZE, GFP_KERNEL);
	if (!third)
		goto out_second;
	pr_info("ladder: three buffers allocated\n");
	return 0;

out_second:
	/* TODO: undo step 2: free second, log "ladder: undo step 2" */
	/* BEGIN SOLUTION */
	kfree(second);
	pr_info("ladder: undo step 2\n");
	/* END SOLUTION */
out_first:
	/* TODO: undo step 1: free first, log "ladder: undo step 1" */
	/* BEGIN SOLUTION */
	kfree(first);
	pr_info("ladder: undo step 1\n");
	/* END SOLUTION */
out:
	pr_err("ladder: init failed at step %d\n", step);
	return -ENOMEM;
}

static void __exit ladder_exit(void)
{
	/* TODO: free third, second and first, then log "ladder: everything freed" */
	/* BEGIN SOLUTION */
	kfree(third);
	kfree(second);
	kfree(first);
	pr_info("ladder: everything freed\n");
	/* END SOLUTION */
}

module_init(ladder_init);
module_exit(ladder_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("goto-unwind, written by the learner");
