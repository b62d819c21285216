// SPDX-License-Identifier: GPL-2.0
/*
 * debugging.c - the kernel log from a module's point of view: one message at each of
 * the eight levels, a pr_fmt prefix on all of them, the printk() calls the pr_*
 * helpers stand for (one of them without a level), and pr_debug messages that stay
 * silent until dynamic debug switches them on, at load time (insmod debugging.ko
 * dyndbg=+p) or at run time (/sys/kernel/debug/dynamic_debug/control).
 * debugging_step() is kept out of line so ftrace's function tracer can see it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

static int steps = 3;
module_param(steps, int, 0444);
MODULE_PARM_DESC(steps, "How many times init calls debugging_step()");

static noinline int debugging_step(int i)
{
	pr_debug("step %d\n", i);
	return i * i;
}

static int __init debugging_init(void)
{
	int i, total = 0;

	pr_emerg("level 0, emerg: the system is unusable\n");
	pr_alert("level 1, alert: act at once\n");
	pr_crit("level 2, crit: critical condition\n");
	pr_err("level 3, err: an error\n");
	pr_warn("level 4, warning: something looks wrong\n");
	pr_notice("level 5, notice: normal but worth noting\n");
	pr_info("level 6, info: informational\n");
	pr_debug("level 7, debug: only with dynamic debug on\n");

	/* What the helpers stand for; printk() adds no pr_fmt prefix. */
	printk(KERN_ERR "debugging: printk(KERN_ERR ...), as pr_err() does\n");
	printk(KERN_DEBUG "debugging: printk(KERN_DEBUG ...), always stored\n");
	printk("debugging: printk() without a level\n");

	for (i = 1; i <= steps; i++)
		total += debugging_step(i);
	pr_info("sum of squares up to %d is %d\n", steps, total);
	return 0;
}

static void __exit debugging_exit(void)
{
	pr_debug("exit: this pr_debug is on\n");
	pr_info("unloaded\n");
}

module_init(debugging_init);
module_exit(debugging_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Log levels, pr_fmt and dynamic debug");
