#include <linux/module.h>
#include <linux/string.h>
MODULE_LICENSE("GPL");

static int depth_reached;

static noinline int descend(volatile char *parent, int depth)
{
	volatile char buf[256];

	buf[0] = parent ? parent[0] + 1 : 0;
	depth_reached = depth;
	return descend(buf, depth + 1) + buf[1];
}

static int __init fstack_init(void)
{
	return descend(NULL, 0) ? 0 : 0;
}
module_init(fstack_init);
