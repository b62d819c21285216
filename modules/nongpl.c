// SPDX-License-Identifier: GPL-2.0
/*
 * nongpl.c - what a module under a GPL-incompatible license gets: it may use symbols
 * exported with EXPORT_SYMBOL (provider_add), not those exported with
 * EXPORT_SYMBOL_GPL (provider_secret: to this module the loader treats it as unknown,
 * and modpost already refuses the build, see faults/greedy.c), and loading it taints
 * the kernel with P ("module license 'Proprietary' taints kernel").
 * (The file itself is GPL, like all of modules/: the license below is the lesson.)
 */
#include <linux/init.h>
#include <linux/module.h>

int provider_add(int a, int b);

static int __init nongpl_init(void)
{
	pr_info("nongpl: 40 + 2 = %d\n", provider_add(40, 2));
	return 0;
}

static void __exit nongpl_exit(void)
{
	pr_info("nongpl: gone\n");
}

module_init(nongpl_init);
module_exit(nongpl_exit);

MODULE_LICENSE("Proprietary");
MODULE_DESCRIPTION("A non-GPL module using a symbol exported to all");
