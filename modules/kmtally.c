// SPDX-License-Identifier: GPL-2.0
/*
 * kmtally.c - the exercise of lesson 13: a misc device, /dev/kmtally, that keeps a
 * tally for each open(): how many numbers were added through that open file, and
 * their sum. Two ioctls:
 *
 *   KMTALLY_ADD  _IOW('t', 1, __u32)                add a number to this tally
 *   KMTALLY_GET  _IOR('t', 2, struct kmtally_info)  read this tally
 *
 * and -ENOTTY for any other command. The tally is allocated in open, kept in
 * file->private_data, and freed in release.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

struct kmtally_info {
	__u32 count;	/* how many KMTALLY_ADDs */
	/* 4 bytes of padding */
	__u64 sum;	/* the sum of their numbers */
};

#define KMTALLY_ADD	_IOW('t', 1, __u32)
#define KMTALLY_GET	_IOR('t', 2, struct kmtally_info)

struct kmtally {
	struct mutex lock;
	u32 count;
	u64 sum;
};

static int kmtally_open(struct inode *inode, struct file *file)
{
	struct kmtally *t = kzalloc(sizeof(*t), GFP_KERNEL);

	if (!t)
		return -ENOMEM;
	mutex_init(&t->lock);
	file->private_data = t;
	return 0;
}

static int kmtally_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static long kmtally_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	/* TODO: the tally is file->private_data. KMTALLY_ADD: get_user() the __u32 at arg
	 * (-EFAULT if that fails), then under the tally's mutex add it to sum and count
	 * one more; return 0. KMTALLY_GET: fill a struct kmtally_info from the tally,
	 * every byte of it, padding included, and copy_to_user() it to arg (-EFAULT if
	 * that fails); return 0. Any other command falls through to -ENOTTY */
	/* BEGIN SOLUTION */
	struct kmtally *t = file->private_data;
	struct kmtally_info info;
	u32 value;

	switch (cmd) {
	case KMTALLY_ADD:
		if (get_user(value, (u32 __user *)arg))
			return -EFAULT;
		mutex_lock(&t->lock);
		t->sum += value;
		t->count++;
		mutex_unlock(&t->lock);
		return 0;
	case KMTALLY_GET:
		memset(&info, 0, sizeof(info));
		mutex_lock(&t->lock);
		info.count = t->count;
		info.sum = t->sum;
		mutex_unlock(&t->lock);
		if (copy_to_user((void __user *)arg, &info, sizeof(info)))
			return -EFAULT;
		return 0;
	}
	/* END SOLUTION */
	return -ENOTTY;
}

static const struct file_operations kmtally_fops = {
	.owner = THIS_MODULE,
	.open = kmtally_open,
	.release = kmtally_release,
	.unlocked_ioctl = kmtally_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

static struct miscdevice kmtally_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmtally",
	.fops = &kmtally_fops,
	.mode = 0666,
};

static int __init kmtally_init(void)
{
	int err = misc_register(&kmtally_dev);

	if (err)
		return err;
	pr_info("kmtally: /dev/kmtally ready\n");
	return 0;
}

static void __exit kmtally_exit(void)
{
	misc_deregister(&kmtally_dev);
	pr_info("kmtally: removed\n");
}

module_init(kmtally_init);
module_exit(kmtally_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A tally per open file, read and added to through ioctl");
