#include <linux/module.h>
MODULE_LICENSE("GPL");

static int parts;
module_param(parts, int, 0444);

static int __init fdiv_init(void)
{
	int total = 100;

	pr_info("fdiv: each part is %d\n", total / parts);
	return 0;
}
module_init(fdiv_init);
