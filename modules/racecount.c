// SPDX-License-Identifier: GPL-2.0
/*
 * racecount.c - two kernel threads, one bound to each of the first two CPUs, each add 1
 * to a shared counter `loops` times; init waits for both, then logs what the counter
 * reached and how long it took. `method` says how each thread adds:
 *
 *   plain     counter++                         (the compiler may merge the loop)
 *   once      WRITE_ONCE(counter, READ_ONCE(counter) + 1)
 *                                               (one load and one store per round)
 *   atomic    atomic_long_inc(&atomic_counter)  (one locked instruction)
 *   spinlock  spin_lock(); counter++; spin_unlock();
 *   mutex     mutex_lock(); counter++; mutex_unlock();
 *
 * The threads wait for each other before they start counting, so that they really
 * count at the same time on the two CPUs.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/string.h>

static char *method = "plain";
module_param(method, charp, 0444);
MODULE_PARM_DESC(method, "plain, once, atomic, spinlock or mutex");

static unsigned int loops = 1000000;
module_param(loops, uint, 0444);
MODULE_PARM_DESC(loops, "How many times each thread adds 1");

static unsigned long counter;
static atomic_long_t atomic_counter = ATOMIC_LONG_INIT(0);
static DEFINE_SPINLOCK(counter_lock);
static DEFINE_MUTEX(counter_mutex);

/* noinline: each one stays a function of its own, to read with objdump. */
static noinline void count_plain(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		counter++;
}

static noinline void count_once(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		WRITE_ONCE(counter, READ_ONCE(counter) + 1);
}

static noinline void count_atomic(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		atomic_long_inc(&atomic_counter);
}

static noinline void count_spinlock(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		spin_lock(&counter_lock);
		counter++;
		spin_unlock(&counter_lock);
	}
}

static noinline void count_mutex(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		mutex_lock(&counter_mutex);
		counter++;
		mutex_unlock(&counter_mutex);
	}
}

enum method { PLAIN, ONCE, ATOMIC, SPINLOCK, MUTEX };
static const char *const methods[] = { "plain", "once", "atomic", "spinlock", "mutex" };
static void (*const counters[])(unsigned int) = {
	[PLAIN] = count_plain, [ONCE] = count_once, [ATOMIC] = count_atomic,
	[SPINLOCK] = count_spinlock, [MUTEX] = count_mutex,
};
static int how;

static atomic_t arrived = ATOMIC_INIT(0);
static struct completion finished[2];

static int racecount_thread(void *data)
{
	struct completion *done = data;

	/* The start line: spin until both threads are here, each on its own CPU. */
	atomic_inc(&arrived);
	while (atomic_read(&arrived) < 2)
		cpu_relax();
	counters[how](loops);
	/* Says "finished" and ends the thread, without returning into this module. */
	kthread_complete_and_exit(done, 0);
}

static int __init racecount_init(void)
{
	unsigned long total, expected = 2UL * loops;
	struct task_struct *threads[2];
	ktime_t start;
	s64 ns;
	int i;

	how = match_string(methods, ARRAY_SIZE(methods), method);
	if (how < 0) {
		pr_err("racecount: unknown method '%s'\n", method);
		return -EINVAL;
	}
	if (num_online_cpus() < 2) {
		pr_err("racecount: needs two CPUs\n");
		return -ENODEV;
	}
	for (i = 0; i < 2; i++) {
		init_completion(&finished[i]);
		threads[i] = kthread_create(racecount_thread, &finished[i], "racecount/%d", i);
		if (IS_ERR(threads[i])) {
			if (i)	/* created, never woken: it ends without running */
				kthread_stop(threads[0]);
			return PTR_ERR(threads[i]);
		}
		kthread_bind(threads[i], i);	/* thread i runs on CPU i, and only there */
	}
	start = ktime_get();
	for (i = 0; i < 2; i++)
		wake_up_process(threads[i]);
	for (i = 0; i < 2; i++)
		wait_for_completion(&finished[i]);
	ns = ktime_to_ns(ktime_sub(ktime_get(), start));

	total = how == ATOMIC ? atomic_long_read(&atomic_counter) : counter;
	pr_info("racecount: %s: %lu of %lu counted, %lu lost, %lld ms, %lld ns per increment\n",
		method, total, expected, expected - total, ns / NSEC_PER_MSEC, ns / (s64)expected);
	return 0;
}

static void __exit racecount_exit(void)
{
}

module_init(racecount_init);
module_exit(racecount_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Two kernel threads, one counter: lost updates and their fixes");
