#include <linux/module.h>
MODULE_LICENSE("GPL");

static int level = -1;
module_param(level, int, 0444);

static int __init fbug_init(void)
{
	BUG_ON(level < 0);
	return 0;
}
module_init(fbug_init);
