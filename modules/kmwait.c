// SPDX-License-Identifier: GPL-2.0
/*
 * kmwait.c - a misc device, /dev/kmwait, that holds at most one message (up to 256
 * bytes, what one write() brings). A read takes the message away. When there is none,
 * the reader sleeps in wait_event_interruptible() until a write brings one, or until a
 * signal arrives (-ERESTARTSYS); a reader that opened with O_NONBLOCK gets -EAGAIN
 * instead of sleeping, and poll() tells it when a read would not block.
 *
 * The device is a stream, like a pipe: it has no file position (stream_open()).
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

static char message[256];
static size_t message_len;
static bool have_message;	/* what the readers wait for */
static DEFINE_MUTEX(lock);	/* guards message, message_len and have_message */
static DECLARE_WAIT_QUEUE_HEAD(readers);

static int kmwait_open(struct inode *inode, struct file *file)
{
	return stream_open(inode, file);
}

static ssize_t kmwait_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	size_t len;

	mutex_lock(&lock);
	while (!have_message) {
		/* Never sleep holding the lock: the writer needs it to bring the message. */
		mutex_unlock(&lock);
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		pr_info("kmwait: %s sleeps until a message comes\n", current->comm);
		if (wait_event_interruptible(readers, READ_ONCE(have_message))) {
			pr_info("kmwait: %s was woken by a signal\n", current->comm);
			return -ERESTARTSYS;
		}
		/* Another reader may have taken the message first: look again, locked. */
		mutex_lock(&lock);
	}
	len = min(count, message_len);
	if (copy_to_user(buf, message, len)) {
		mutex_unlock(&lock);
		return -EFAULT;	/* the message stays for the next reader */
	}
	WRITE_ONCE(have_message, false);
	mutex_unlock(&lock);
	pr_info("kmwait: %s took %zu bytes\n", current->comm, len);
	return len;
}

static ssize_t kmwait_write(struct file *file, const char __user *buf, size_t count,
			    loff_t *ppos)
{
	char chunk[sizeof(message)];
	size_t len = min(count, sizeof(message));

	if (copy_from_user(chunk, buf, len))
		return -EFAULT;

	mutex_lock(&lock);
	memcpy(message, chunk, len);
	message_len = len;
	WRITE_ONCE(have_message, true);
	mutex_unlock(&lock);

	/* After the condition is true, never before: a woken reader checks it at once. */
	wake_up_interruptible(&readers);
	pr_info("kmwait: %s left %zu bytes\n", current->comm, len);
	return len;
}

static __poll_t kmwait_poll(struct file *file, poll_table *wait)
{
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;	/* a write never has to wait */

	/* Adds the caller to the queue, so that wake_up_interruptible() wakes poll() too. */
	poll_wait(file, &readers, wait);
	if (READ_ONCE(have_message))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static const struct file_operations kmwait_fops = {
	.owner = THIS_MODULE,
	.open = kmwait_open,
	.read = kmwait_read,
	.write = kmwait_write,
	.poll = kmwait_poll,
	.llseek = no_llseek,
};

static struct miscdevice kmwait_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmwait",
	.fops = &kmwait_fops,
	.mode = 0666,
};

static int __init kmwait_init(void)
{
	int err = misc_register(&kmwait_dev);

	if (err)
		return err;
	pr_info("kmwait: /dev/kmwait ready\n");
	return 0;
}

static void __exit kmwait_exit(void)
{
	misc_deregister(&kmwait_dev);
	pr_info("kmwait: removed\n");
}

module_init(kmwait_init);
module_exit(kmwait_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A one-message device whose reads sleep until a write");
