// SPDX-License-Identifier: GPL-2.0
/*
 * consumer.c - uses the two functions provider.ko exports. Loading it makes the
 * kernel resolve them, which pins provider.ko (its use count goes up).
 */
#include <linux/init.h>
#include <linux/module.h>

int provider_add(int a, int b);
int provider_secret(void);

static int __init consumer_init(void)
{
	pr_info("consumer: 2 + 3 = %d, secret %d\n", provider_add(2, 3), provider_secret());
	return 0;
}

static void __exit consumer_exit(void)
{
	pr_info("consumer: gone\n");
}

module_init(consumer_init);
module_exit(consumer_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Uses symbols exported by provider.ko");
