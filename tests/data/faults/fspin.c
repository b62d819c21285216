#include <linux/module.h>
MODULE_LICENSE("GPL");

static int __init fspin_init(void)
{
	pr_info("fspin: waiting forever\n");
	while (1)
		cpu_relax();
	return 0;
}
module_init(fspin_init);
