// SPDX-License-Identifier: GPL-2.0
/*
 * kmforget.c - FAULT ON PURPOSE: creates /sys/kernel/debug/kmforget/ with a u32 file and
 * a seq_file, and its exit forgets debugfs_remove_recursive(). After rmmod the files are
 * still there, pointing into the module's freed memory: the u32 file at a variable that
 * no longer exists, the other at functions that no longer exist. Reading either oopses.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>

static struct dentry *dir;
static u32 answer = 42;

static int greeting_show(struct seq_file *m, void *v)
{
	seq_puts(m, "hello from kmforget\n");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(greeting);	/* greeting_fops: single_open() with greeting_show */

static int __init kmforget_init(void)
{
	dir = debugfs_create_dir("kmforget", NULL);
	debugfs_create_u32("answer", 0444, dir, &answer);
	debugfs_create_file("greeting", 0444, dir, NULL, &greeting_fops);
	pr_info("kmforget: /sys/kernel/debug/kmforget created\n");
	return 0;
}

static void __exit kmforget_exit(void)
{
	/* missing: debugfs_remove_recursive(dir); */
	pr_info("kmforget: unloaded, and the files were forgotten\n");
}

module_init(kmforget_init);
module_exit(kmforget_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Forgets to remove its debugfs files at exit");
