// SPDX-License-Identifier: GPL-2.0
#include <linux/init.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/uaccess.h>

static char text[64];

ssize_t cfu_write(struct file *file, const char __user *buf, size_t count, loff_t *ppos)
{
	size_t len = min(count, sizeof(text));

	if (copy_from_user(text, buf, len) < 0)
		return -EFAULT;
	return len;
}

static int __init cfu_lt0_init(void)
{
	return 0;
}
module_init(cfu_lt0_init);
MODULE_LICENSE("GPL");
