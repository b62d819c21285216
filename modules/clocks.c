// SPDX-License-Identifier: GPL-2.0
/*
 * clocks.c - the kernel's two ways of telling time, read and used from init:
 *
 *   jiffies  a counter the timer tick adds 1 to, HZ times a second (250 in Debian's
 *            kernel: one jiffy is 4 ms). Cheap to read, coarse; it starts 5 minutes
 *            short of a 32-bit wrap, so that code which compares jiffies with < and >
 *            instead of time_after() breaks soon after every boot, not after 49 days.
 *   ktime    nanoseconds from the clocksource (the TSC here): ktime_get() counts from
 *            boot and never jumps, ktime_get_real() is the wall clock, which may.
 *
 * init then sleeps three ways and measures each sleep with both clocks.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/timekeeping.h>

static void measure(const char *what, unsigned long j0, ktime_t t0)
{
	pr_info("clocks: %-24s %lu jiffies, %lld us\n", what, jiffies - j0,
		ktime_us_delta(ktime_get(), t0));
}

static int __init clocks_init(void)
{
	unsigned long j0, deadline;
	ktime_t t0;

	pr_info("clocks: HZ is %d, one jiffy is %u ms\n", HZ, jiffies_to_msecs(1));
	pr_info("clocks: jiffies is %lu, %lu ticks after boot: %lu s\n", jiffies,
		jiffies - INITIAL_JIFFIES, (jiffies - INITIAL_JIFFIES) / HZ);
	pr_info("clocks: ktime_get() is %lld ns after boot; the wall clock reads %lld s "
		"after 1970\n", ktime_get_ns(), ktime_get_real_seconds());

	j0 = jiffies;
	t0 = ktime_get();
	msleep(1);		/* whole jiffies: at least one, here 4 ms */
	measure("msleep(1):", j0, t0);

	j0 = jiffies;
	t0 = ktime_get();
	usleep_range(100, 200);	/* a high-resolution timer: 100 to 200 us */
	measure("usleep_range(100, 200):", j0, t0);

	j0 = jiffies;
	t0 = ktime_get();
	deadline = jiffies + msecs_to_jiffies(20);
	while (time_before(jiffies, deadline))	/* wrap-safe, unlike jiffies < deadline */
		msleep(5);
	measure("20 ms of msleep(5):", j0, t0);
	return 0;
}

static void __exit clocks_exit(void)
{
}

module_init(clocks_init);
module_exit(clocks_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("jiffies and ktime, and sleeps measured with both");
