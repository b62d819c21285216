// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox.c - the exercise of lesson 08: one int, the "box", shown two ways: read-only
 * as text in /proc/kmbox (seq_file), and read-write in /sys/kernel/kmbox/value.
 * The value is shared without a lock, with READ_ONCE()/WRITE_ONCE() as in sysfs_demo.c.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/sysfs.h>

static int value;
static struct proc_dir_entry *entry;
static struct kobject *kmbox;

static int kmbox_show(struct seq_file *m, void *v)
{
	/* TODO: print "the box holds N" (N: value) and a newline with seq_printf() */
	/* BEGIN SOLUTION */
	seq_printf(m, "the box holds %d\n", READ_ONCE(value));
	/* END SOLUTION */
	return 0;
}

static int kmbox_open(struct inode *inode, struct file *file)
{
	return single_open(file, kmbox_show, NULL);
}

static const struct proc_ops kmbox_proc_ops = {
	.proc_open = kmbox_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static ssize_t value_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(value));
}

static ssize_t value_store(struct kobject *kobj, struct kobj_attribute *attr,
			   const char *buf, size_t count)
{
	/* TODO: parse buf as a decimal int; if it does not parse, refuse the write with
	 * the parser's error; otherwise store the number in value and log
	 * "kmbox: value set to N" */
	/* BEGIN SOLUTION */
	int parsed;
	int err = kstrtoint(buf, 10, &parsed);

	if (err)
		return err;
	WRITE_ONCE(value, parsed);
	pr_info("kmbox: value set to %d\n", parsed);
	/* END SOLUTION */
	return count;
}

static struct kobj_attribute value_attr = __ATTR(value, 0644, value_show, value_store);

static int __init kmbox_init(void)
{
	int err;

	kmbox = kobject_create_and_add("kmbox", kernel_kobj);
	if (!kmbox)
		return -ENOMEM;
	err = sysfs_create_file(kmbox, &value_attr.attr);
	if (err)
		goto out_kobject;
	entry = proc_create("kmbox", 0444, NULL, &kmbox_proc_ops);
	if (!entry) {
		err = -ENOMEM;
		goto out_kobject;
	}
	pr_info("kmbox: /proc/kmbox and /sys/kernel/kmbox/value created\n");
	return 0;

out_kobject:
	kobject_put(kmbox);
	return err;
}

static void __exit kmbox_exit(void)
{
	proc_remove(entry);
	kobject_put(kmbox);
	pr_info("kmbox: removed\n");
}

module_init(kmbox_init);
module_exit(kmbox_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("One int in /proc and in sysfs");
