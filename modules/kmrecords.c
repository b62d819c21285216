// SPDX-License-Identifier: GPL-2.0
/*
 * kmrecords.c - a linked list of records, shown in debugfs through a seq_file iterator.
 *
 * /sys/kernel/debug/kmrecords/ holds:
 *   records  a header line, then one line per record: start/next/stop/show walk the list
 *   count    how many records there are (a read-only u32)
 *   starts   how many times seq_file called start() (a u32; root may write 0 to reset it)
 *   stops    how many times it called stop() (likewise)
 *   hex      a bool: Y shows the values in hexadecimal
 *
 * seq_file calls start() at the beginning of every read(), with the position to go on
 * from, then show() and next() until the reader's buffer is full, then stop(). A file
 * longer than one read() sees start() and stop() many times, and start() must find the
 * record at *pos afresh each time. The lock is taken in start() and dropped in stop():
 * one read() sees the list whole, and no lock is held between two read() calls.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/debugfs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

static unsigned int nrecords = 200;
module_param(nrecords, uint, 0444);
MODULE_PARM_DESC(nrecords, "How many records to create (default 200)");

struct kmrecord {
	struct list_head node;
	u32 id;
	u32 value;
	char name[16];
};

static LIST_HEAD(records);
static DEFINE_MUTEX(records_lock);	/* guards the list */
static struct dentry *dir;
static u32 count, starts, stops;
static bool hex;

/* Position 0 is the header line, position N the Nth record; NULL: past the end. */
static void *kmrecords_start(struct seq_file *m, loff_t *pos)
{
	struct kmrecord *r;
	loff_t n = *pos;

	mutex_lock(&records_lock);
	starts++;
	if (n == 0)
		return SEQ_START_TOKEN;
	list_for_each_entry(r, &records, node)
		if (--n == 0)
			return r;
	return NULL;
}

static void *kmrecords_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct list_head *next;

	if (v == SEQ_START_TOKEN)
		next = records.next;
	else
		next = ((struct kmrecord *)v)->node.next;
	++*pos;
	return next == &records ? NULL : list_entry(next, struct kmrecord, node);
}

static void kmrecords_stop(struct seq_file *m, void *v)
{
	stops++;
	mutex_unlock(&records_lock);	/* stop() runs even when start() returned NULL */
}

static int kmrecords_show(struct seq_file *m, void *v)
{
	struct kmrecord *r = v;

	if (v == SEQ_START_TOKEN) {
		seq_puts(m, "  id name            value\n");
		return 0;
	}
	if (READ_ONCE(hex))
		seq_printf(m, "%4u %-12s %#8x\n", r->id, r->name, r->value);
	else
		seq_printf(m, "%4u %-12s %8u\n", r->id, r->name, r->value);
	return 0;
}

static const struct seq_operations kmrecords_sops = {
	.start = kmrecords_start,
	.next = kmrecords_next,
	.stop = kmrecords_stop,
	.show = kmrecords_show,
};

DEFINE_SEQ_ATTRIBUTE(kmrecords);	/* kmrecords_fops: seq_open() with kmrecords_sops */

static void free_records(void)
{
	struct kmrecord *r, *tmp;

	list_for_each_entry_safe(r, tmp, &records, node) {
		list_del(&r->node);
		kfree(r);
	}
}

static int __init kmrecords_init(void)
{
	struct kmrecord *r;
	u32 i;

	for (i = 1; i <= nrecords; i++) {
		r = kzalloc(sizeof(*r), GFP_KERNEL);
		if (!r) {
			free_records();
			return -ENOMEM;
		}
		r->id = i;
		r->value = i * i;
		snprintf(r->name, sizeof(r->name), "record-%u", i);
		list_add_tail(&r->node, &records);
	}
	count = nrecords;

	/* debugfs calls are not checked: a failure only loses a debugging aid, and a
	 * failed directory (an ERR_PTR) makes the calls below it do nothing. */
	dir = debugfs_create_dir("kmrecords", NULL);
	debugfs_create_file("records", 0444, dir, NULL, &kmrecords_fops);
	debugfs_create_u32("count", 0444, dir, &count);
	debugfs_create_u32("starts", 0644, dir, &starts);
	debugfs_create_u32("stops", 0644, dir, &stops);
	debugfs_create_bool("hex", 0644, dir, &hex);
	pr_info("kmrecords: %u records in /sys/kernel/debug/kmrecords\n", count);
	return 0;
}

static void __exit kmrecords_exit(void)
{
	/* The files first: once it returns, no reader is inside our functions any more,
	 * and new ones cannot get in. Only then free what they show. */
	debugfs_remove_recursive(dir);
	free_records();
	pr_info("kmrecords: removed\n");
}

module_init(kmrecords_init);
module_exit(kmrecords_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A list walked by a seq_file iterator, with debugfs counters");
