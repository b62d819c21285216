// SPDX-License-Identifier: GPL-2.0
/*
 * tally.c - the exercise of lesson 10: two kernel threads, one on each of the first two
 * CPUs, each record the samples 1, 2, ..., loops into one shared tally: how many samples
 * it has seen, and their sum. Then init compares the tally with what it must be.
 *
 * The two fields change together, as one update: a reader must never see a count
 * that does not match the sum. An atomic_t per field would count right but would not
 * keep the pair consistent; a spinlock around both does. (The threads never sleep
 * while they hold it, and the update is a few instructions: a spinlock's job.)
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/kthread.h>
#include <linux/spinlock.h>

static unsigned int loops = 1000000;
module_param(loops, uint, 0444);
MODULE_PARM_DESC(loops, "How many samples each thread records");

static struct {
	unsigned long count;
	unsigned long sum;
} tally;
/* TODO: a spinlock that guards tally (DEFINE_SPINLOCK) */
/* BEGIN SOLUTION */
static DEFINE_SPINLOCK(tally_lock);
/* END SOLUTION */

static noinline void tally_add(unsigned long sample)
{
	/* TODO: update both fields under the spinlock, so that no sample is lost */
	/* BEGIN SOLUTION */
	spin_lock(&tally_lock);
	tally.count++;
	tally.sum += sample;
	spin_unlock(&tally_lock);
	return;
	/* END SOLUTION */
	tally.count++;		/* the skeleton's: right on one CPU, not on two */
	tally.sum += sample;
}

static atomic_t arrived = ATOMIC_INIT(0);
static struct completion finished[2];

static int tally_thread(void *data)
{
	unsigned long i;

	atomic_inc(&arrived);	/* start together: wait until both threads are here */
	while (atomic_read(&arrived) < 2)
		cpu_relax();
	for (i = 1; i <= loops; i++)
		tally_add(i);
	kthread_complete_and_exit(data, 0);
}

static int __init tally_init(void)
{
	unsigned long count = 2UL * loops, sum = (unsigned long)loops * (loops + 1UL);
	struct task_struct *threads[2];
	int i;

	if (num_online_cpus() < 2)
		return -ENODEV;
	for (i = 0; i < 2; i++) {
		init_completion(&finished[i]);
		threads[i] = kthread_create(tally_thread, &finished[i], "tally/%d", i);
		if (IS_ERR(threads[i])) {
			if (i)
				kthread_stop(threads[0]);
			return PTR_ERR(threads[i]);
		}
		kthread_bind(threads[i], i);
	}
	for (i = 0; i < 2; i++)
		wake_up_process(threads[i]);
	for (i = 0; i < 2; i++)
		wait_for_completion(&finished[i]);

	if (tally.count == count && tally.sum == sum)
		pr_info("tally: %lu samples, sum %lu: nothing lost\n", count, sum);
	else
		pr_info("tally: %lu of %lu samples, sum %lu instead of %lu: updates were lost\n",
			tally.count, count, tally.sum, sum);
	return 0;
}

static void __exit tally_exit(void)
{
}

module_init(tally_init);
module_exit(tally_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Two threads, one tally: the exercise of lesson 10");
