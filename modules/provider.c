// SPDX-License-Identifier: GPL-2.0
/*
 * provider.c - exports two functions for other modules: one to every module
 * (EXPORT_SYMBOL), one only to modules under a GPL-compatible license
 * (EXPORT_SYMBOL_GPL).
 */
#include <linux/init.h>
#include <linux/module.h>

int provider_add(int a, int b)
{
	return a + b;
}
EXPORT_SYMBOL(provider_add);

int provider_secret(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(provider_secret);

static int __init provider_init(void)
{
	pr_info("provider: ready\n");
	return 0;
}

static void __exit provider_exit(void)
{
	pr_info("provider: gone\n");
}

module_init(provider_init);
module_exit(provider_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Exports symbols for consumer.ko");
