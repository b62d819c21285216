#include <linux/module.h>
#include <linux/timer.h>
MODULE_LICENSE("GPL");

static struct timer_list tick;
static int *counter;

static void ftimer_fire(struct timer_list *t)
{
	(*counter)++;
}

static int __init ftimer_init(void)
{
	timer_setup(&tick, ftimer_fire, 0);
	mod_timer(&tick, jiffies + HZ / 5);
	return 0;
}

static void __exit ftimer_exit(void)
{
	del_timer_sync(&tick);
}
module_init(ftimer_init);
module_exit(ftimer_exit);
