// SPDX-License-Identifier: GPL-2.0
/*
 * kmsession.c - a misc device, /dev/kmsession, whose state belongs to each open():
 * every open file gets a session of its own (a number, a running total, a count of
 * additions), allocated in open, kept in file->private_data, freed in release. Four
 * ioctls, one of each kind:
 *
 *   KMS_RESET  _IO    no argument                      zero this session's total
 *   KMS_ADD    _IOW   a __u32, from the program        add it to the total
 *   KMS_GET    _IOR   a struct kms_info, to the program  the session as it is
 *   KMS_SWAP   _IOWR  a __u64, both ways               set the total, get the old one
 *
 * Unknown commands get -ENOTTY. 32-bit programs reach the same code through
 * compat_ptr_ioctl, for the commands whose argument has the same layout there.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

/* What a program sees: fixed-size types, and the same definitions as in its header. */
struct kms_info {
	__u32 id;	/* the session's number: 1 for the first open, then 2, ... */
	/* 4 bytes of padding here: total must start at a multiple of 8 */
	__u64 total;	/* the sum of what KMS_ADD added */
	__u16 adds;	/* how many KMS_ADDs */
	/* 6 bytes of padding here: the size is a multiple of 8, for arrays */
};

#define KMS_RESET	_IO('k', 0x10)
#define KMS_ADD		_IOW('k', 0x11, __u32)
#define KMS_GET		_IOR('k', 0x12, struct kms_info)
#define KMS_SWAP	_IOWR('k', 0x13, __u64)

/* What one open file holds, found through file->private_data. */
struct kms_session {
	struct mutex lock;	/* threads of a program may share one open file */
	u32 id;
	u64 total;
	u16 adds;
};

static atomic_t opened = ATOMIC_INIT(0);

static int kms_open(struct inode *inode, struct file *file)
{
	struct kms_session *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return -ENOMEM;
	mutex_init(&s->lock);
	s->id = atomic_inc_return(&opened);
	file->private_data = s;	/* the misc core had put &kms_dev there */
	pr_info("kmsession: session %u opened by %s\n", s->id, current->comm);
	return 0;
}

/* Runs once per open(), when the last descriptor of the open file is closed. */
static int kms_release(struct inode *inode, struct file *file)
{
	struct kms_session *s = file->private_data;

	pr_info("kmsession: session %u closed, total %llu\n", s->id, s->total);
	kfree(s);
	return 0;
}

static long kms_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kms_session *s = file->private_data;
	void __user *argp = (void __user *)arg;
	struct kms_info info;
	u32 amount;
	u64 value;

	switch (cmd) {
	case KMS_RESET:
		mutex_lock(&s->lock);
		s->total = 0;
		s->adds = 0;
		mutex_unlock(&s->lock);
		return 0;
	case KMS_ADD:
		if (get_user(amount, (u32 __user *)argp))
			return -EFAULT;
		mutex_lock(&s->lock);
		s->total += amount;
		s->adds++;
		mutex_unlock(&s->lock);
		return 0;
	case KMS_GET:
		/* Every byte goes to user space, the padding too: clear them all first. */
		memset(&info, 0, sizeof(info));
		mutex_lock(&s->lock);
		info.id = s->id;
		info.total = s->total;
		info.adds = s->adds;
		mutex_unlock(&s->lock);
		return copy_to_user(argp, &info, sizeof(info)) ? -EFAULT : 0;
	case KMS_SWAP:
		if (get_user(value, (u64 __user *)argp))
			return -EFAULT;
		mutex_lock(&s->lock);
		swap(s->total, value);
		mutex_unlock(&s->lock);
		return put_user(value, (u64 __user *)argp);
	default:
		return -ENOTTY;	/* "not a command of this device" */
	}
}

static const struct file_operations kms_fops = {
	.owner = THIS_MODULE,
	.open = kms_open,
	.release = kms_release,
	.unlocked_ioctl = kms_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

static struct miscdevice kms_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmsession",
	.fops = &kms_fops,
	.mode = 0666,
};

static int __init kms_init(void)
{
	int err = misc_register(&kms_dev);

	if (err)
		return err;
	pr_info("kmsession: /dev/kmsession ready\n");
	return 0;
}

static void __exit kms_exit(void)
{
	misc_deregister(&kms_dev);
	pr_info("kmsession: removed\n");
}

module_init(kms_init);
module_exit(kms_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Per-open state in private_data, and ioctls done right");
