// SPDX-License-Identifier: GPL-2.0
/*
 * kmlog.c - the exercise of lesson 14: a list of log entries in debugfs.
 *
 * /sys/kernel/debug/kmlog/ holds:
 *   entries  one line per entry, "entry N: text", walked by a seq_file iterator
 *   count    how many entries there are (a read-only u32)
 *
 * The file is longer than a page, so reading it takes several read() calls, and
 * start() must find the entry at *pos each time. The lock is held from start() to
 * stop(), as in kmrecords.c.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/debugfs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

static unsigned int nentries = 200;
module_param(nentries, uint, 0444);
MODULE_PARM_DESC(nentries, "How many entries to create (default 200)");

struct kmlog_entry {
	struct list_head node;
	u32 seq;
	char text[32];
};

static LIST_HEAD(entries);
static DEFINE_MUTEX(entries_lock);	/* guards the list */
static struct dentry *dir;
static u32 count;

/* The entry at position pos (0: the first), or NULL past the last one. */
static struct kmlog_entry *kmlog_find(loff_t pos)
{
	/* TODO: walk the list and return the entry at position pos; NULL if there is none */
	/* BEGIN SOLUTION */
	struct kmlog_entry *e;

	list_for_each_entry(e, &entries, node)
		if (pos-- == 0)
			return e;
	/* END SOLUTION */
	return NULL;
}

static void *kmlog_start(struct seq_file *m, loff_t *pos)
{
	mutex_lock(&entries_lock);	/* held until kmlog_stop() */
	return kmlog_find(*pos);
}

/* The entry after v (NULL after the last one); *pos moves on by one. */
static void *kmlog_next(struct seq_file *m, void *v, loff_t *pos)
{
	/* TODO: move *pos on by one; return the entry after v, or NULL if v is the last */
	/* BEGIN SOLUTION */
	struct kmlog_entry *e = v;

	++*pos;
	if (list_is_last(&e->node, &entries))
		return NULL;
	return list_next_entry(e, node);
	/* END SOLUTION */
	return NULL;
}

static void kmlog_stop(struct seq_file *m, void *v)
{
	mutex_unlock(&entries_lock);
}

static int kmlog_show(struct seq_file *m, void *v)
{
	struct kmlog_entry *e = v;

	seq_printf(m, "entry %u: %s\n", e->seq, e->text);
	return 0;
}

static const struct seq_operations kmlog_sops = {
	.start = kmlog_start,
	.next = kmlog_next,
	.stop = kmlog_stop,
	.show = kmlog_show,
};

DEFINE_SEQ_ATTRIBUTE(kmlog);

static void free_entries(void)
{
	struct kmlog_entry *e, *tmp;

	list_for_each_entry_safe(e, tmp, &entries, node) {
		list_del(&e->node);
		kfree(e);
	}
}

static int __init kmlog_init(void)
{
	struct kmlog_entry *e;
	u32 i;

	for (i = 1; i <= nentries; i++) {
		e = kzalloc(sizeof(*e), GFP_KERNEL);
		if (!e) {
			free_entries();
			return -ENOMEM;
		}
		e->seq = i;
		snprintf(e->text, sizeof(e->text), "%u x %u = %u", i, i, i * i);
		list_add_tail(&e->node, &entries);
	}
	count = nentries;

	dir = debugfs_create_dir("kmlog", NULL);
	debugfs_create_file("entries", 0444, dir, NULL, &kmlog_fops);
	/* TODO: a read-only file "count" in the same folder that shows count */
	/* BEGIN SOLUTION */
	debugfs_create_u32("count", 0444, dir, &count);
	/* END SOLUTION */
	pr_info("kmlog: %u entries in /sys/kernel/debug/kmlog\n", count);
	return 0;
}

static void __exit kmlog_exit(void)
{
	/* TODO: remove the folder kmlog and everything in it, before the entries go */
	/* BEGIN SOLUTION */
	debugfs_remove_recursive(dir);
	/* END SOLUTION */
	free_entries();
	pr_info("kmlog: removed\n");
}

module_init(kmlog_init);
module_exit(kmlog_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A list of log entries in debugfs, through seq_file");
