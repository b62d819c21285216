// SPDX-License-Identifier: GPL-2.0
/*
 * borrower.c - the exercise of lesson 05: a second user of provider.ko, and a provider
 * in its own turn. Calling provider's functions makes the kernel resolve them when
 * borrower loads, and pins provider (its refcnt goes up) for as long as borrower stays
 * loaded; exporting borrower_double() puts it in the kernel's symbol table for other
 * GPL modules.
 */
#include <linux/init.h>
#include <linux/module.h>

int provider_add(int a, int b);
int provider_secret(void);

/* TODO: define int borrower_double(int x), returning twice x, and export it to
 * modules under a GPL-compatible license only */
/* BEGIN SOLUTION */
int borrower_double(int x)
{
	return 2 * x;
}
EXPORT_SYMBOL_GPL(borrower_double);
/* END SOLUTION */

static int __init borrower_init(void)
{
	int total = 0;

	/* TODO: set total to the provider's secret plus one, computed with both of the
	 * provider's functions */
	/* BEGIN SOLUTION */
	total = provider_add(provider_secret(), 1);
	/* END SOLUTION */
	pr_info("borrower: the secret plus one is %d\n", total);
	return 0;
}

static void __exit borrower_exit(void)
{
	pr_info("borrower: gone\n");
}

module_init(borrower_init);
module_exit(borrower_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Borrows provider.ko's functions and lends one of its own");
