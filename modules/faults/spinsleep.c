// SPDX-License-Identifier: GPL-2.0
/*
 * spinsleep.c - FAULT ON PURPOSE: init takes a spinlock and, holding it, calls something
 * that may sleep. `sleep` says what:
 *
 *   kmalloc  kmalloc(GFP_KERNEL), which sleeps only when memory is short: here it
 *            does not, and nothing is reported (the bug stays, hidden)
 *   msleep   msleep(10), which always sleeps: the scheduler finds a task that holds
 *            a spinlock going to sleep and prints "BUG: scheduling while atomic"
 *
 * A spinlock disables preemption while it is held (the preemption count goes up by
 * one); a task that sleeps with it held leaves every other CPU that wants the lock
 * spinning, and on one CPU nobody could ever release it.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

static char *sleep = "msleep";
module_param(sleep, charp, 0444);
MODULE_PARM_DESC(sleep, "What to call under the spinlock: kmalloc or msleep");

static DEFINE_SPINLOCK(lock);
static void *buffer;

static int __init spinsleep_init(void)
{
	spin_lock(&lock);
	if (strcmp(sleep, "kmalloc") == 0)
		buffer = kmalloc(64, GFP_KERNEL);	/* may sleep: GFP_ATOMIC would not */
	else
		msleep(10);				/* sleeps, always */
	spin_unlock(&lock);
	pr_info("spinsleep: called %s with a spinlock held, and came back\n", sleep);
	return 0;
}

static void __exit spinsleep_exit(void)
{
	kfree(buffer);
}

module_init(spinsleep_init);
module_exit(spinsleep_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Sleeps while holding a spinlock");
