// SPDX-License-Identifier: GPL-2.0
/*
 * kmticker.c - a kernel thread that ticks: it sleeps period_ms milliseconds, counts a
 * tick, and sleeps again, count times; then it has finished its job and ends by
 * itself. Unloading the module before that asks it to stop early.
 *
 * Either way, the module's exit function must not return while the thread still runs
 * code of the module: the code is freed right after. The thread says "I have finished"
 * with a completion, and the exit function waits for it. A completion remembers that it
 * happened, so waiting for one that is already complete returns at once: exit works the
 * same whether the thread ended long ago or is still ticking.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/completion.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/wait.h>

static unsigned int count = 20;
module_param(count, uint, 0444);
MODULE_PARM_DESC(count, "ticks before the thread ends by itself (default 20)");

static unsigned int period_ms = 100;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "milliseconds between ticks (default 100)");

static unsigned int ticks;	/* written by the thread only; read in sysfs */
module_param(ticks, uint, 0444);
MODULE_PARM_DESC(ticks, "ticks so far (read-only)");

static bool stopping;		/* set by exit: the thread should end now */
static DECLARE_WAIT_QUEUE_HEAD(wake);
static DECLARE_COMPLETION(finished);

static int ticker_fn(void *unused)
{
	pr_info("kmticker: thread started: %u ticks of %u ms\n", count, period_ms);
	while (ticks < count) {
		/* Sleeps period_ms, or less when exit sets stopping and wakes the queue. */
		wait_event_interruptible_timeout(wake, READ_ONCE(stopping),
						 msecs_to_jiffies(period_ms));
		if (READ_ONCE(stopping)) {
			pr_info("kmticker: asked to stop early\n");
			break;
		}
		WRITE_ONCE(ticks, ticks + 1);
	}
	if (ticks == count)
		pr_info("kmticker: %u ticks done, the thread ends by itself\n", count);
	/*
	 * Not complete() and return: after complete(), exit may free this code before the
	 * return runs. kthread_complete_and_exit() is the kernel's own code, and never
	 * returns here.
	 */
	kthread_complete_and_exit(&finished, 0);
}

static int __init kmticker_init(void)
{
	struct task_struct *thread;

	thread = kthread_run(ticker_fn, NULL, "kmticker");
	if (IS_ERR(thread))
		return PTR_ERR(thread);
	return 0;
}

static void __exit kmticker_exit(void)
{
	WRITE_ONCE(stopping, true);
	wake_up_interruptible(&wake);
	wait_for_completion(&finished);
	pr_info("kmticker: the thread has finished; unloaded\n");
}

module_init(kmticker_init);
module_exit(kmticker_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A kernel thread stopped at unload through a completion");
