// SPDX-License-Identifier: GPL-2.0
/*
 * procfs_demo.c - a read-only file /proc/kmproc written with seq_file.
 *
 * Since Linux 5.6, proc_create() takes a struct proc_ops, not a struct
 * file_operations; many tutorials still show the old form, which no longer compiles.
 *
 * The file counts how often it was opened. The count goes up in open(), not in
 * show(): seq_file may call show() more than once for one read (when its buffer was
 * too small, it retries with a bigger one), but open() runs once per open().
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/atomic.h>

static atomic_t opens = ATOMIC_INIT(0);
static struct proc_dir_entry *entry;

static int kmproc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "hello from /proc\n");
	seq_printf(m, "opened %d times\n", atomic_read(&opens));
	return 0;
}

static int kmproc_open(struct inode *inode, struct file *file)
{
	atomic_inc(&opens);
	return single_open(file, kmproc_show, NULL);
}

static const struct proc_ops kmproc_ops = {
	.proc_open = kmproc_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static int __init procfs_demo_init(void)
{
	entry = proc_create("kmproc", 0444, NULL, &kmproc_ops);
	if (!entry)
		return -ENOMEM;
	pr_info("procfs_demo: /proc/kmproc created\n");
	return 0;
}

static void __exit procfs_demo_exit(void)
{
	proc_remove(entry);
	pr_info("procfs_demo: /proc/kmproc removed\n");
}

module_init(procfs_demo_init);
module_exit(procfs_demo_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A /proc file with seq_file");
