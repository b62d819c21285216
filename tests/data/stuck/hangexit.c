// SPDX-License-Identifier: GPL-2.0
/* hangexit.c - exit never returns: it sleeps a second at a time, for ever. */
#include <linux/delay.h>
#include <linux/module.h>

static int __init hangexit_init(void)
{
	return 0;
}

static void __exit hangexit_exit(void)
{
	pr_info("hangexit: leaving\n");
	while (1)
		msleep(1000);
}
module_init(hangexit_init);
module_exit(hangexit_exit);
MODULE_LICENSE("GPL");
