// SPDX-License-Identifier: GPL-2.0
/*
 * stray_timer.c - FAULT ON PURPOSE: a timer that re-arms itself every 100 ms, and an
 * exit function that forgets to stop it (no timer_shutdown_sync()). rmmod frees the
 * module's code; the timer stays in the kernel's timer wheel, and at most 100 ms later
 * the timer softirq calls its callback, at an address where no code is any more. A
 * fault in softirq context cannot be survived: "Fatal exception in interrupt", a panic.
 *
 * The timer lives in an allocated struct, as a driver's would in its private data,
 * which exit forgets too: freeing the struct while the timer is queued in it would
 * corrupt the timer wheel as well.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/jiffies.h>
#include <linux/slab.h>
#include <linux/timer.h>

struct stray {
	struct timer_list timer;
	unsigned int ticks;
};

static struct stray *stray;

static void stray_timer_fire(struct timer_list *t)
{
	struct stray *s = from_timer(s, t, timer);

	s->ticks++;
	mod_timer(&s->timer, jiffies + msecs_to_jiffies(100));
}

static int __init stray_timer_init(void)
{
	stray = kzalloc(sizeof(*stray), GFP_KERNEL);
	if (!stray)
		return -ENOMEM;
	timer_setup(&stray->timer, stray_timer_fire, 0);
	mod_timer(&stray->timer, jiffies + msecs_to_jiffies(100));
	return 0;
}

static void __exit stray_timer_exit(void)
{
	/* Missing: timer_shutdown_sync(&stray->timer); kfree(stray); */
	pr_info("stray_timer: %u ticks so far; leaving, with the timer still armed\n",
		stray->ticks);
}

module_init(stray_timer_init);
module_exit(stray_timer_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Forgets to stop its timer in exit");
