// SPDX-License-Identifier: GPL-2.0
/*
 * greedy.c - FAULT ON PURPOSE: a module under a GPL-incompatible license that calls
 * provider_secret(), which provider.ko exports with EXPORT_SYMBOL_GPL. modpost stops
 * the build ("GPL-incompatible module greedy.ko uses GPL-only symbol
 * 'provider_secret'"); a .ko built some other way would still be refused at load time,
 * where the module loader treats the symbol as unknown to a non-GPL module.
 * (The file itself is GPL, like all of modules/: the license below is the lesson.)
 */
#include <linux/init.h>
#include <linux/module.h>

int provider_secret(void);

static int __init greedy_init(void)
{
	pr_info("greedy: the secret is %d\n", provider_secret());
	return 0;
}

static void __exit greedy_exit(void)
{
}

module_init(greedy_init);
module_exit(greedy_exit);

MODULE_LICENSE("Proprietary");
MODULE_DESCRIPTION("Uses a GPL-only symbol without a GPL-compatible license");
