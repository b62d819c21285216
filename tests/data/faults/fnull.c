#include <linux/module.h>
MODULE_LICENSE("GPL");

static int __init fnull_init(void)
{
	int *volatile p = NULL;

	pr_info("fnull: about to write through NULL\n");
	*p = 42;
	return 0;
}
module_init(fnull_init);
