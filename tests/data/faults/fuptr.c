#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/string.h>
MODULE_LICENSE("GPL");

static char text[64];

static ssize_t fuptr_write(struct file *file, const char __user *buf, size_t count,
			   loff_t *ppos)
{
	if (count > sizeof(text))
		count = sizeof(text);
	memcpy(text, buf, count);
	return count;
}

static const struct file_operations fuptr_fops = {
	.owner = THIS_MODULE,
	.write = fuptr_write,
};

static struct miscdevice fuptr_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "fuptr",
	.fops = &fuptr_fops,
	.mode = 0666,
};

static int __init fuptr_init(void)
{
	return misc_register(&fuptr_dev);
}

static void __exit fuptr_exit(void)
{
	misc_deregister(&fuptr_dev);
}
module_init(fuptr_init);
module_exit(fuptr_exit);
