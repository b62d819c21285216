// SPDX-License-Identifier: GPL-2.0
/*
 * greet.c - hello's twin for the exercise of lesson 02: complete metadata and a
 * matching pair of init and exit functions.
 */
#include <linux/init.h>
#include <linux/module.h>

/* TODO: an __init function that logs a greeting, an __exit function that logs a
 * farewell, and module_init()/module_exit() naming them */
/* BEGIN SOLUTION */
static int __init greet_init(void)
{
	pr_info("greet: good morning, kernel\n");
	return 0;
}

static void __exit greet_exit(void)
{
	pr_info("greet: good night, kernel\n");
}

module_init(greet_init);
module_exit(greet_exit);
/* END SOLUTION */

MODULE_LICENSE("GPL");
/* TODO: MODULE_AUTHOR, MODULE_DESCRIPTION and MODULE_VERSION */
/* BEGIN SOLUTION */
MODULE_AUTHOR("A. Learner");
MODULE_DESCRIPTION("My first module of my own");
MODULE_VERSION("0.1");
/* END SOLUTION */
