// SPDX-License-Identifier: GPL-2.0
/* spin.c - init spins for ever with interrupts on: a soft lockup. */
#include <linux/module.h>

static int __init spin_init(void)
{
	pr_info("spin: start\n");
	while (1)
		cpu_relax();
	return 0;
}
module_init(spin_init);
MODULE_LICENSE("GPL");
