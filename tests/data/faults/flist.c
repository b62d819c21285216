#include <linux/module.h>
#include <linux/list.h>
#include <linux/slab.h>
MODULE_LICENSE("GPL");

struct entry {
	int value;
	struct list_head node;
};

static LIST_HEAD(entries);
static struct entry one = { .value = 1 };

static int __init flist_init(void)
{
	list_add(&one.node, &entries);
	list_del(&one.node);
	pr_info("flist: next value %d\n", list_entry(one.node.next, struct entry, node)->value);
	return 0;
}
module_init(flist_init);
