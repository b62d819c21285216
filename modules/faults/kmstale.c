// SPDX-License-Identifier: GPL-2.0
/*
 * kmstale.c - FAULT ON PURPOSE: kmsession.c's per-open sessions, with the session
 * freed in .flush instead of .release. flush runs at every close() of a file
 * descriptor; release runs once, when the last descriptor of the open file is gone.
 * After dup(fd) and close() of the copy, the open file lives on through fd, and its
 * private_data points at freed memory: the next ioctl() reads and writes memory that
 * the allocator has taken back (a use-after-free), and the final close() frees it a
 * second time.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

struct kms_info {
	__u32 id;
	__u64 total;
	__u16 adds;
};

#define KMS_ADD		_IOW('k', 0x11, __u32)
#define KMS_GET		_IOR('k', 0x12, struct kms_info)

struct kms_session {
	struct mutex lock;
	u64 total;
	u32 id;
	u16 adds;
};

static atomic_t opened = ATOMIC_INIT(0);

static int kmstale_open(struct inode *inode, struct file *file)
{
	struct kms_session *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return -ENOMEM;
	mutex_init(&s->lock);
	s->id = atomic_inc_return(&opened);
	file->private_data = s;
	return 0;
}

/* THE BUG: flush is called for every close(), not once per open(). */
static int kmstale_flush(struct file *file, fl_owner_t id)
{
	struct kms_session *s = file->private_data;

	pr_info("kmstale: freeing session %u at a close()\n", s->id);
	kfree(s);
	return 0;
}

static long kmstale_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kms_session *s = file->private_data;
	struct kms_info info;
	u32 amount;

	switch (cmd) {
	case KMS_ADD:
		if (get_user(amount, (u32 __user *)arg))
			return -EFAULT;
		mutex_lock(&s->lock);
		s->total += amount;
		s->adds++;
		mutex_unlock(&s->lock);
		return 0;
	case KMS_GET:
		memset(&info, 0, sizeof(info));
		mutex_lock(&s->lock);
		info.id = s->id;
		info.total = s->total;
		info.adds = s->adds;
		mutex_unlock(&s->lock);
		return copy_to_user((void __user *)arg, &info, sizeof(info)) ? -EFAULT : 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kmstale_fops = {
	.owner = THIS_MODULE,
	.open = kmstale_open,
	.flush = kmstale_flush,
	.unlocked_ioctl = kmstale_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice kmstale_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmstale",
	.fops = &kmstale_fops,
	.mode = 0666,
};

static int __init kmstale_init(void)
{
	return misc_register(&kmstale_dev);
}

static void __exit kmstale_exit(void)
{
	misc_deregister(&kmstale_dev);
}

module_init(kmstale_init);
module_exit(kmstale_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Frees its per-open state too early: a use-after-free");
