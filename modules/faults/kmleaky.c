// SPDX-License-Identifier: GPL-2.0
/*
 * kmleaky.c - FAULT ON PURPOSE: a device, /dev/kmleaky, whose KMS_GET (the same
 * command and struct as kmsession.c's) fills a struct kms_info on the stack field by
 * field and copies all of it to the program. Nobody wrote the 10 bytes of padding, so
 * the program receives whatever the kernel stack held there: pieces of return
 * addresses, pointers and data of functions that ran before.
 *
 * Debian's kernel hides the bug: it is built with CONFIG_INIT_STACK_ALL_ZERO, and gcc
 * then zeroes every local variable, padding included. Build this file with
 * -ftrivial-auto-var-init=uninitialized to see what a kernel without it gives away.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/uaccess.h>

struct kms_info {
	__u32 id;
	/* 4 bytes of padding */
	__u64 total;
	__u16 adds;
	/* 6 bytes of padding */
};

#define KMS_GET		_IOR('k', 0x12, struct kms_info)

static long kmleaky_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kms_info info;	/* THE BUG: not cleared, and its padding is never written */

	if (cmd != KMS_GET)
		return -ENOTTY;
	info.id = 1;
	info.total = 42;
	info.adds = 1;
	return copy_to_user((void __user *)arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static const struct file_operations kmleaky_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = kmleaky_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice kmleaky_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmleaky",
	.fops = &kmleaky_fops,
	.mode = 0666,
};

static int __init kmleaky_init(void)
{
	return misc_register(&kmleaky_dev);
}

static void __exit kmleaky_exit(void)
{
	misc_deregister(&kmleaky_dev);
}

module_init(kmleaky_init);
module_exit(kmleaky_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Copies a struct with uninitialised padding to user space");
