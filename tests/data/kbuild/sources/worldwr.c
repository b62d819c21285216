// SPDX-License-Identifier: GPL-2.0
#include <linux/init.h>
#include <linux/module.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>

static int value;

static ssize_t value_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", value);
}

static ssize_t value_store(struct kobject *kobj, struct kobj_attribute *attr,
			   const char *buf, size_t count)
{
	return kstrtoint(buf, 10, &value) ?: count;
}

static struct kobj_attribute value_attr = __ATTR(value, 0666, value_show, value_store);

static int __init worldwr_init(void)
{
	return value_attr.attr.mode ? 0 : -EINVAL;
}
module_init(worldwr_init);
MODULE_LICENSE("GPL");
