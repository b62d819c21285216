#include <linux/module.h>
MODULE_LICENSE("GPL");

static int *data;

static int __init fexit_init(void)
{
	return 0;
}

static void __exit fexit_exit(void)
{
	pr_info("fexit: last value %d\n", *data);
}
module_init(fexit_init);
module_exit(fexit_exit);
