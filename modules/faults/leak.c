// SPDX-License-Identifier: GPL-2.0
/*
 * leak.c - FAULT ON PURPOSE: allocates `count` objects from its own named slab cache,
 * "leak_obj", and its exit forgets to free them and to destroy the cache. After
 * rmmod, /proc/slabinfo still lists leak_obj with at least `count` active objects:
 * memory no one can ever free until reboot. "At least", because SLUB also counts as
 * active the free objects of the slab a CPU is still allocating from: 100 leaked objects
 * of 136 bytes, 30 to a one-page slab, fill 4 slabs and show as 120. (The constructor
 * keeps the cache from being merged with a kmalloc cache of the same size, so it keeps
 * its own line in slabinfo.)
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>

static int count = 100;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "How many objects to leak");

static struct kmem_cache *cache;

static void leak_ctor(void *obj)
{
	memset(obj, 0, 128);
}

static int __init leak_init(void)
{
	int i;

	cache = kmem_cache_create("leak_obj", 128, 0, 0, leak_ctor);
	if (!cache)
		return -ENOMEM;
	for (i = 0; i < count; i++)
		if (!kmem_cache_alloc(cache, GFP_KERNEL))
			return -ENOMEM;	/* leaks too: this module is wrong on purpose */
	pr_info("leak: allocated %d objects and kept no pointer to them\n", count);
	return 0;
}

static void __exit leak_exit(void)
{
	pr_info("leak: unloading without freeing anything\n");
}

module_init(leak_init);
module_exit(leak_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Leaks slab objects on purpose");
