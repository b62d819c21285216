// SPDX-License-Identifier: GPL-2.0
/*
 * chardev.c - a misc character device, /dev/kmchar, that keeps the last message
 * written to it (up to 256 bytes) and gives it back on read. Two ioctls: KMCHAR_CLEAR
 * forgets the message, KMCHAR_GETLEN returns its length.
 *
 * A misc device gets its minor number and its /dev node from the misc core, so there
 * is no alloc_chrdev_region(), cdev_add() or class_create() to get right (the latter
 * lost its first argument in 6.4, which breaks many tutorials).
 *
 * The device behaves like a small file: each open() for writing starts a new message
 * at position 0, and the writes through that open file append to it, *ppos saying
 * where. A write returns how many bytes it kept; once the 256 bytes are full, a write
 * fails with -ENOSPC ("No space left on device"), so a writer that loops on short
 * writes stops there instead of retrying forever.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/uaccess.h>

#define KMCHAR_CLEAR	_IO('k', 1)
#define KMCHAR_GETLEN	_IOR('k', 2, int)

static char message[256];
static size_t message_len;
static DEFINE_MUTEX(lock);	/* guards message and message_len */

static ssize_t kmchar_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&lock);
	ret = simple_read_from_buffer(buf, count, ppos, message, message_len);
	mutex_unlock(&lock);
	return ret;
}

static ssize_t kmchar_write(struct file *file, const char __user *buf, size_t count,
			    loff_t *ppos)
{
	char chunk[sizeof(message)];
	loff_t pos = *ppos;
	size_t len;

	if (pos < 0)
		return -EINVAL;
	if (pos >= sizeof(message))
		return count ? -ENOSPC : 0;
	len = min_t(size_t, count, sizeof(message) - pos);
	/* Copy first, into a buffer of our own: a bad address leaves the message intact. */
	if (copy_from_user(chunk, buf, len))
		return -EFAULT;

	mutex_lock(&lock);
	memcpy(message + pos, chunk, len);
	message_len = pos + len;
	mutex_unlock(&lock);

	*ppos = pos + len;
	pr_info("kmchar: stored %zu bytes\n", len);
	return len;
}

static long kmchar_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	int len;

	switch (cmd) {
	case KMCHAR_CLEAR:
		mutex_lock(&lock);
		message_len = 0;
		mutex_unlock(&lock);
		pr_info("kmchar: cleared\n");
		return 0;
	case KMCHAR_GETLEN:
		mutex_lock(&lock);
		len = message_len;
		mutex_unlock(&lock);
		return put_user(len, (int __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kmchar_fops = {
	.owner = THIS_MODULE,
	.read = kmchar_read,
	.write = kmchar_write,
	.unlocked_ioctl = kmchar_ioctl,
	.compat_ioctl = compat_ptr_ioctl,	/* 32-bit programs: same commands, pointer arg */
	.llseek = default_llseek,
};

static struct miscdevice kmchar_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmchar",
	.fops = &kmchar_fops,
	.mode = 0666,	/* /dev/kmchar for every user: fine for a toy, see lesson 09 */
};

static int __init chardev_init(void)
{
	int err = misc_register(&kmchar_dev);

	if (err)
		return err;
	pr_info("kmchar: /dev/kmchar ready\n");
	return 0;
}

static void __exit chardev_exit(void)
{
	misc_deregister(&kmchar_dev);
	pr_info("kmchar: removed\n");
}

module_init(chardev_init);
module_exit(chardev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A misc character device with read, write and ioctl");
