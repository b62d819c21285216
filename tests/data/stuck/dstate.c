// SPDX-License-Identifier: GPL-2.0
/* dstate.c - init starts a thread that waits for an event that never comes (state D). */
#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/module.h>

static DECLARE_COMPLETION(never);

static int dstate_wait(void *unused)
{
	wait_for_completion(&never);
	return 0;
}

static int __init dstate_init(void)
{
	struct task_struct *thread = kthread_run(dstate_wait, NULL, "dstate_wait");

	return PTR_ERR_OR_ZERO(thread);
}
module_init(dstate_init);
MODULE_LICENSE("GPL");
