#include <linux/module.h>
#include <linux/slab.h>
MODULE_LICENSE("GPL");

struct item {
	int *value;
	char pad[56];
};

static int x = 7;

static int __init fuaf_init(void)
{
	struct item *it = kmalloc(sizeof(*it), GFP_KERNEL);

	if (!it)
		return -ENOMEM;
	it->value = &x;
	kfree(it);
	pr_info("fuaf: value is %d\n", *it->value);
	return 0;
}
module_init(fuaf_init);
