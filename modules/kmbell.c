// SPDX-License-Identifier: GPL-2.0
/*
 * kmbell.c - the exercise of lesson 11: a doorbell, /dev/kmbell. Each write() rings it
 * once, whatever it writes. A read() answers how many rings came since the last read,
 * as text ("2\n"), and resets the count; when there was no ring, it waits for one:
 * it sleeps in wait_event_interruptible() until a write rings, fails with -EAGAIN for
 * a reader that opened with O_NONBLOCK, and with -ERESTARTSYS when a signal
 * interrupts the sleep. poll() says when a read would not block.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/poll.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

static atomic_t rings = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(bell);

static int kmbell_open(struct inode *inode, struct file *file)
{
	return stream_open(inode, file);
}

static ssize_t kmbell_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	char text[16];
	unsigned int n;
	size_t len;

	n = atomic_xchg(&rings, 0);	/* take the rings so far, leave 0 */
	/* TODO: while n is 0: return -EAGAIN if the file was opened with O_NONBLOCK
	 * (file->f_flags), else sleep with wait_event_interruptible() on bell until rings
	 * is not 0 (return -ERESTARTSYS if a signal ended the sleep), then take the rings
	 * again as above: another reader may have taken them first */
	/* BEGIN SOLUTION */
	while (!n) {
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(bell, atomic_read(&rings) != 0))
			return -ERESTARTSYS;
		n = atomic_xchg(&rings, 0);
	}
	/* END SOLUTION */
	len = min(count, (size_t)scnprintf(text, sizeof(text), "%u\n", n));
	if (copy_to_user(buf, text, len))
		return -EFAULT;
	return len;
}

static ssize_t kmbell_write(struct file *file, const char __user *buf, size_t count,
			    loff_t *ppos)
{
	atomic_inc(&rings);
	/* TODO: wake up the readers that sleep on bell */
	/* BEGIN SOLUTION */
	wake_up_interruptible(&bell);
	/* END SOLUTION */
	return count;
}

static __poll_t kmbell_poll(struct file *file, poll_table *wait)
{
	poll_wait(file, &bell, wait);
	if (atomic_read(&rings))
		return EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM;
	return EPOLLOUT | EPOLLWRNORM;
}

static const struct file_operations kmbell_fops = {
	.owner = THIS_MODULE,
	.open = kmbell_open,
	.read = kmbell_read,
	.write = kmbell_write,
	.poll = kmbell_poll,
	.llseek = no_llseek,
};

static struct miscdevice kmbell_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmbell",
	.fops = &kmbell_fops,
	.mode = 0666,
};

static int __init kmbell_init(void)
{
	int err = misc_register(&kmbell_dev);

	if (err)
		return err;
	pr_info("kmbell: /dev/kmbell ready\n");
	return 0;
}

static void __exit kmbell_exit(void)
{
	misc_deregister(&kmbell_dev);
	pr_info("kmbell: removed\n");
}

module_init(kmbell_init);
module_exit(kmbell_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A doorbell device: reads sleep until a write rings");
