// SPDX-License-Identifier: GPL-2.0
/* hang.c - init never returns: it sleeps a second at a time, for ever. */
#include <linux/delay.h>
#include <linux/module.h>

static int __init hang_init(void)
{
	pr_info("hang: start\n");
	while (1)
		msleep(1000);
	return 0;
}
module_init(hang_init);
MODULE_LICENSE("GPL");
