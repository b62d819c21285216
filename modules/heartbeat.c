// SPDX-License-Identifier: GPL-2.0
/*
 * heartbeat.c - the exercise of lesson 12: a timer that fires every period_ms
 * milliseconds. Its callback runs in softirq context, where nothing may sleep, so it
 * only counts the beat and hands the logging over to a work item, which a kworker runs
 * later and which may sleep (printing to a slow console can). Exit must stop both for
 * good before the module's code is freed.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/atomic.h>
#include <linux/jiffies.h>
#include <linux/timer.h>
#include <linux/workqueue.h>

static unsigned int period_ms = 200;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "Milliseconds between two beats (10 to 10000)");

static struct timer_list beat_timer;
static struct work_struct beat_work;
static atomic_t beats = ATOMIC_INIT(0);	/* counted in the timer, read in the work */

static void beat_log(struct work_struct *work)
{
	pr_info("heartbeat: beat %d\n", atomic_read(&beats));
}

static void beat_fire(struct timer_list *t)
{
	atomic_inc(&beats);
	schedule_work(&beat_work);
	/* TODO: fire again, period_ms from now */
	/* BEGIN SOLUTION */
	mod_timer(&beat_timer, jiffies + msecs_to_jiffies(period_ms));
	/* END SOLUTION */
}

static int __init heartbeat_init(void)
{
	if (period_ms < 10 || period_ms > 10000)
		return -EINVAL;
	INIT_WORK(&beat_work, beat_log);
	timer_setup(&beat_timer, beat_fire, 0);
	mod_timer(&beat_timer, jiffies + msecs_to_jiffies(period_ms));
	pr_info("heartbeat: a beat every %u ms\n", period_ms);
	return 0;
}

static void __exit heartbeat_exit(void)
{
	/* TODO: stop the timer for good, then make sure no beat_log() is queued or running */
	/* BEGIN SOLUTION */
	timer_shutdown_sync(&beat_timer);
	cancel_work_sync(&beat_work);
	/* END SOLUTION */
	pr_info("heartbeat: stopped after %d beats\n", atomic_read(&beats));
}

module_init(heartbeat_init);
module_exit(heartbeat_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A periodic timer that hands its work to a work item");
