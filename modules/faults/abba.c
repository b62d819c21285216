// SPDX-License-Identifier: GPL-2.0
/*
 * abba.c - FAULT ON PURPOSE: two kernel threads take the same two mutexes in opposite
 * orders. abba_ab takes A, then B; abba_ba takes B, then A. Each takes its first lock,
 * dozes 100 ms (so that the other surely takes its own first lock meanwhile), then
 * waits for its second: the one the other thread holds. Neither can go on: a deadlock.
 *
 * A task waiting in mutex_lock() sleeps uninterruptibly (state D), so no signal ends
 * it; after hung_task_timeout_secs the kernel's hung-task detector reports both. The
 * module can then never be unloaded: its exit waits for threads that never finish.
 * With opposite=0 both take A first, then B, and both finish.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mutex.h>

static bool opposite = true;
module_param(opposite, bool, 0444);
MODULE_PARM_DESC(opposite, "Take the locks in opposite orders (default) or in the same");

static DEFINE_MUTEX(lock_a);
static DEFINE_MUTEX(lock_b);
static DECLARE_COMPLETION(ab_done);
static DECLARE_COMPLETION(ba_done);

static int abba_ab(void *data)
{
	mutex_lock(&lock_a);
	pr_info("abba: abba_ab holds A, wants B\n");
	msleep(100);
	mutex_lock(&lock_b);
	pr_info("abba: abba_ab holds A and B\n");
	mutex_unlock(&lock_b);
	mutex_unlock(&lock_a);
	kthread_complete_and_exit(&ab_done, 0);
}

static int abba_ba(void *data)
{
	struct mutex *first = opposite ? &lock_b : &lock_a;
	struct mutex *second = opposite ? &lock_a : &lock_b;

	mutex_lock(first);
	pr_info("abba: abba_ba holds %s, wants %s\n", opposite ? "B" : "A", opposite ? "A" : "B");
	msleep(100);
	mutex_lock(second);
	pr_info("abba: abba_ba holds A and B\n");
	mutex_unlock(second);
	mutex_unlock(first);
	kthread_complete_and_exit(&ba_done, 0);
}

static int __init abba_init(void)
{
	struct task_struct *ab, *ba;

	ab = kthread_run(abba_ab, NULL, "abba_ab");
	if (IS_ERR(ab))
		return PTR_ERR(ab);
	ba = kthread_run(abba_ba, NULL, "abba_ba");
	if (IS_ERR(ba)) {
		wait_for_completion(&ab_done);	/* alone, abba_ab finishes */
		return PTR_ERR(ba);
	}
	return 0;
}

static void __exit abba_exit(void)
{
	/* After a deadlock these never return: rmmod would hang for ever. */
	wait_for_completion(&ab_done);
	wait_for_completion(&ba_done);
	pr_info("abba: both threads finished\n");
}

module_init(abba_init);
module_exit(abba_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Two threads, two mutexes, opposite orders: a deadlock");
