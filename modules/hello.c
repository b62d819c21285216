// SPDX-License-Identifier: GPL-2.0
/*
 * hello.c - the classic first module, with one parameter.
 *
 * Load it with a name and it greets that name on load and says goodbye on unload:
 *   insmod hello.ko name='"Linux Enthusiast"'
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static char *name = "world";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "Who to greet (default: world)");

static int __init hello_init(void)
{
	pr_info("Hello, %s!\n", name);
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("Goodbye, %s!\n", name);
}

module_init(hello_init);
module_exit(hello_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Greets a name on load and on unload");
MODULE_VERSION("1.0");
