// SPDX-License-Identifier: GPL-2.0
/*
 * deferred.c - three ways to run code later, each logging the context it runs in:
 *
 *   a timer (timer_list)       its callback runs in softirq context, on the CPU whose
 *                              tick found it due: it must not sleep
 *   a work item (work_struct)  runs in a kworker, a kernel thread: it may sleep
 *   a delayed work item        a work item queued after a delay (a timer inside)
 *
 * A chain: init arms the timer for 100 ms; the timer callback, which must not sleep,
 * queues the work item on the module's own workqueue; the work item sleeps 10 ms (it
 * may) and queues the delayed work item for 50 ms later, which logs and ends the chain.
 * Exit stops all three, in the order they start each other: the timer first (it queues
 * the work item), then the work item (it queues the delayed one), then the delayed one.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/timer.h>
#include <linux/workqueue.h>

static struct workqueue_struct *queue;
static struct timer_list timer;
static struct work_struct work;
static struct delayed_work later;

static void show_context(const char *who)
{
	pr_info("deferred: %-13s in_task %d, in_interrupt %d, in_softirq %d, in_hardirq %d, "
		"preemptible %d, in a kworker %s\n", who, !!in_task(), !!in_interrupt(),
		!!in_softirq(), !!in_hardirq(), !!preemptible(),
		current->flags & PF_WQ_WORKER ? "yes" : "no");
}

static void deferred_timer_fn(struct timer_list *t)
{
	show_context("timer:");
	queue_work(queue, &work);	/* hand over to a context that may sleep */
}

static void deferred_work_fn(struct work_struct *w)
{
	show_context("work:");
	msleep(10);
	pr_info("deferred: work: slept 10 ms, queues the delayed work\n");
	queue_delayed_work(queue, &later, msecs_to_jiffies(50));
}

static void deferred_later_fn(struct work_struct *w)
{
	show_context("delayed work:");
}

static int __init deferred_init(void)
{
	queue = alloc_workqueue("deferred", 0, 0);
	if (!queue)
		return -ENOMEM;
	INIT_WORK(&work, deferred_work_fn);
	INIT_DELAYED_WORK(&later, deferred_later_fn);
	timer_setup(&timer, deferred_timer_fn, 0);
	show_context("init:");
	mod_timer(&timer, jiffies + msecs_to_jiffies(100));
	return 0;
}

static void __exit deferred_exit(void)
{
	timer_shutdown_sync(&timer);		/* not pending, not running, never again */
	cancel_work_sync(&work);		/* not queued, not running */
	cancel_delayed_work_sync(&later);	/* its timer and itself */
	destroy_workqueue(queue);
	pr_info("deferred: timer, work and delayed work stopped\n");
}

module_init(deferred_init);
module_exit(deferred_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A timer, a work item and a delayed work item, and their contexts");
