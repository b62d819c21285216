#include <linux/module.h>
MODULE_LICENSE("GPL");

static int budget = -1;

static int __init fwarn_init(void)
{
	if (WARN_ON(budget < 0))
		budget = 0;
	return 0;
}
static void __exit fwarn_exit(void) { }
module_init(fwarn_init);
module_exit(fwarn_exit);
