// SPDX-License-Identifier: GPL-2.0
/*
 * kmupper.c - the exercise of lesson 09: a misc device, /dev/kmupper, that keeps the
 * last text written to it (up to 256 bytes) with a-z turned into A-Z, and gives it
 * back on read. Only the ASCII letters change, so UTF-8 text stays valid. Writes work
 * as in chardev.c: each open() starts a new text, writes append at *ppos, a write
 * returns what it kept, and -ENOSPC once the 256 bytes are full.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/uaccess.h>

static char text[256];
static size_t text_len;
static DEFINE_MUTEX(lock);	/* guards text and text_len */

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
	/* TODO: store the bytes at position *ppos of text, as chardev.c's write does:
	 * refuse a negative position, and -ENOSPC once text is full; copy what fits into
	 * a buffer of your own first (-EFAULT if that fails); turn 'a'..'z' into 'A'..'Z';
	 * under the lock put them into text and set text_len; advance *ppos; log
	 * "kmupper: stored N bytes" and return N, the number of bytes kept */
	/* BEGIN SOLUTION */
	char chunk[sizeof(text)];
	loff_t pos = *ppos;
	size_t len, i;

	if (pos < 0)
		return -EINVAL;
	if (pos >= sizeof(text))
		return count ? -ENOSPC : 0;
	len = min_t(size_t, count, sizeof(text) - pos);
	if (copy_from_user(chunk, buf, len))
		return -EFAULT;
	for (i = 0; i < len; i++)
		if (chunk[i] >= 'a' && chunk[i] <= 'z')
			chunk[i] -= 'a' - 'A';

	mutex_lock(&lock);
	memcpy(text + pos, chunk, len);
	text_len = pos + len;
	mutex_unlock(&lock);

	*ppos = pos + len;
	pr_info("kmupper: stored %zu bytes\n", len);
	return len;
	/* END SOLUTION */
	return count;	/* the skeleton's: claims all was taken, and keeps nothing */
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
