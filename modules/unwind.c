// SPDX-License-Identifier: GPL-2.0
/*
 * unwind.c - init that acquires three resources and, when one step fails, releases
 * exactly what it had acquired so far (goto-unwind), and an exit that releases all.
 *
 * Debian's kernel has no fault injection, so fail_at=N makes step N fail on purpose:
 *   1: the named slab cache "unwind_item", 2: a kmalloc buffer, 3: an object from the cache.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

struct unwind_item {
	int id;
	char note[56];
};

static int fail_at;
module_param(fail_at, int, 0444);
MODULE_PARM_DESC(fail_at, "Make step 1, 2 or 3 of init fail (0: none)");

static struct kmem_cache *item_cache;
static char *buffer;
static struct unwind_item *item;

static int __init unwind_init(void)
{
	int err = -ENOMEM;
	int step = 1;	/* the step being tried, for the message when one fails */

	item_cache = fail_at == 1 ? NULL :
		kmem_cache_create("unwind_item", sizeof(struct unwind_item), 0, 0, NULL);
	if (!item_cache)
		goto out;
	pr_info("unwind: step 1, cache created\n");

	step = 2;
	buffer = fail_at == 2 ? NULL : kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buffer)
		goto out_cache;
	pr_info("unwind: step 2, buffer allocated\n");

	step = 3;
	item = fail_at == 3 ? NULL : kmem_cache_zalloc(item_cache, GFP_KERNEL);
	if (!item)
		goto out_buffer;
	pr_info("unwind: step 3, item allocated\n");
	return 0;

out_buffer:
	kfree(buffer);
	pr_info("unwind: undo step 2, buffer freed\n");
out_cache:
	kmem_cache_destroy(item_cache);
	pr_info("unwind: undo step 1, cache destroyed\n");
out:
	pr_err("unwind: init failed at step %d: %d\n", step, err);
	return err;
}

static void __exit unwind_exit(void)
{
	kmem_cache_free(item_cache, item);
	kfree(buffer);
	kmem_cache_destroy(item_cache);
	pr_info("unwind: everything released\n");
}

module_init(unwind_init);
module_exit(unwind_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("goto-unwind error handling with a forced failure");
