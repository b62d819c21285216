// SPDX-License-Identifier: GPL-2.0
/*
 * kmupper.c - the exercise of lesson 09: a misc device, /dev/kmupper, that keeps the
 * last text written to it (up to 256 bytes) with a-z turned into A-Z, and gives it
 * back on read. Only the ASCII letters change, so UTF-8 text stays valid.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/uaccess.h>

static char text[256];
static size_t text_len;
static DEFINE_MUTEX(lock);

static ssize_t kmupper_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&lock);
	ret = simple_read_from_buffer(buf, count, ppos, text, text_len);
	mutex_unlock(&lock);
	return ret;
}

static ssize_t kmupper_write(struct file *file, const char __user *buf, size_t count,
			     loff_t *ppos)
{
	/* TODO: under the lock, copy up to sizeof(text) bytes from buf into text
	 * (copy_from_user(); return -EFAULT if it fails), turn 'a'..'z' into 'A'..'Z',
	 * set text_len, and log "kmupper: stored N bytes" */
	/* BEGIN SOLUTION */
	size_t len = min(count, sizeof(text));
	size_t i;

	mutex_lock(&lock);
	if (copy_from_user(text, buf, len)) {
		mutex_unlock(&lock);
		return -EFAULT;
	}
	for (i = 0; i < len; i++)
		if (text[i] >= 'a' && text[i] <= 'z')
			text[i] -= 'a' - 'A';
	text_len = len;
	mutex_unlock(&lock);
	pr_info("kmupper: stored %zu bytes\n", len);
	/* END SOLUTION */
	return count;
}

static const struct file_operations kmupper_fops = {
	.owner = THIS_MODULE,
	.read = kmupper_read,
	.write = kmupper_write,
	.llseek = default_llseek,
};

static struct miscdevice kmupper_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmupper",
	.fops = &kmupper_fops,
	.mode = 0666,
};

static int __init kmupper_init(void)
{
	int err = misc_register(&kmupper_dev);

	if (err)
		return err;
	pr_info("kmupper: /dev/kmupper ready\n");
	return 0;
}

static void __exit kmupper_exit(void)
{
	misc_deregister(&kmupper_dev);
	pr_info("kmupper: removed\n");
}

module_init(kmupper_init);
module_exit(kmupper_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A misc device that upper-cases what is written to it");
