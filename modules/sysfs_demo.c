// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs_demo.c - one read-write attribute, /sys/kernel/kmsysfs/value, holding an int.
 * sysfs wants one value per file, as text; show() formats it with sysfs_emit(),
 * store() parses what user space wrote and may refuse it.
 *
 * value is shared without a lock: a reader may run show() while a writer runs store().
 * One aligned int is loaded and stored whole on every CPU Linux supports, and each
 * function touches it once, so nothing can go wrong here; READ_ONCE()/WRITE_ONCE() say
 * so to the compiler (one access, never torn, merged or repeated) and to the reader.
 * A value read twice that must not change in between, a read-modify-write (value++),
 * or several values that must change together need a lock or atomic_t instead.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>
#include <linux/kernel.h>

static struct kobject *kmsysfs;
static int value = 7;

static ssize_t value_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(value));
}

static ssize_t value_store(struct kobject *kobj, struct kobj_attribute *attr,
			   const char *buf, size_t count)
{
	int parsed;
	int err = kstrtoint(buf, 10, &parsed);

	if (err)
		return err;	/* write() fails with it: -EINVAL, or -ERANGE for too big */
	WRITE_ONCE(value, parsed);
	pr_info("sysfs_demo: value set to %d\n", parsed);
	return count;	/* all of it consumed; 0 would make the writer retry forever */
}

static struct kobj_attribute value_attr = __ATTR(value, 0644, value_show, value_store);

static int __init sysfs_demo_init(void)
{
	int err;

	kmsysfs = kobject_create_and_add("kmsysfs", kernel_kobj);
	if (!kmsysfs)
		return -ENOMEM;
	err = sysfs_create_file(kmsysfs, &value_attr.attr);
	if (err) {
		kobject_put(kmsysfs);
		return err;
	}
	pr_info("sysfs_demo: /sys/kernel/kmsysfs/value created\n");
	return 0;
}

static void __exit sysfs_demo_exit(void)
{
	kobject_put(kmsysfs);	/* also removes the attribute file */
	pr_info("sysfs_demo: removed\n");
}

module_init(sysfs_demo_init);
module_exit(sysfs_demo_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A read-write sysfs attribute");
