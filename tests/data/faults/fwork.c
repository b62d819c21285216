#include <linux/module.h>
#include <linux/workqueue.h>
MODULE_LICENSE("GPL");

static int *counter;

static void fwork_run(struct work_struct *work)
{
	(*counter)++;
}

static DECLARE_DELAYED_WORK(job, fwork_run);

static int __init fwork_init(void)
{
	schedule_delayed_work(&job, HZ / 5);
	return 0;
}

static void __exit fwork_exit(void)
{
	cancel_delayed_work_sync(&job);
}
module_init(fwork_init);
module_exit(fwork_exit);
