// SPDX-License-Identifier: GPL-2.0
/* spinirq.c - init spins for ever with interrupts off: nothing ticks on that CPU. */
#include <linux/irqflags.h>
#include <linux/module.h>

static int __init spinirq_init(void)
{
	pr_info("spinirq: start\n");
	local_irq_disable();
	while (1)
		cpu_relax();
	return 0;
}
module_init(spinirq_init);
MODULE_LICENSE("GPL");
