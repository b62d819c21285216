// SPDX-License-Identifier: GPL-2.0
/*
 * kmled.c - the exercise of lesson 15: a platform driver for a pretend LED.
 *
 * Init registers the driver "kmled" and a device "kmled.0" whose platform data give the
 * LED's colour, its maximum brightness and the brightness to start at (the module
 * parameter brightness, as board code would set it). While the driver is bound, the
 * device has a read-write attribute /sys/devices/platform/kmled.0/brightness.
 * probe() takes its memory with devm_kzalloc() and registers a devm action,
 * kmled_off(), which the driver core runs when the device is unbound: the LED goes off.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

static unsigned int brightness = 3;
module_param(brightness, uint, 0444);
MODULE_PARM_DESC(brightness, "The brightness the board starts the LED at (0 to 10)");

struct kmled_pdata {
	const char *color;
	unsigned int max_brightness;
	unsigned int default_brightness;
};

struct kmled {
	struct device *dev;
	const char *color;
	unsigned int max_brightness;
	unsigned int brightness;
};

/* TODO: write kmled_off(void *data), the devm action: data is the struct kmled;
 * log "<color> LED off" on its device with dev_info() */
/* BEGIN SOLUTION */
static void kmled_off(void *data)
{
	struct kmled *led = data;

	dev_info(led->dev, "%s LED off\n", led->color);
}
/* END SOLUTION */

static int kmled_probe(struct platform_device *pdev)
{
	/* TODO: take the platform data (-EINVAL without any); allocate a struct kmled
	 * with devm_kzalloc() (-ENOMEM if that fails) and fill it in from the platform
	 * data (brightness starts at default_brightness); register kmled_off() as a
	 * devm action with devm_add_action_or_reset(); store the struct as the device's
	 * driver data; log "<color> LED ready, brightness <b> of <max>" with dev_info()
	 * and return 0 */
	/* BEGIN SOLUTION */
	struct device *dev = &pdev->dev;
	const struct kmled_pdata *pdata = dev_get_platdata(dev);
	struct kmled *led;
	int err;

	if (!pdata)
		return -EINVAL;
	led = devm_kzalloc(dev, sizeof(*led), GFP_KERNEL);
	if (!led)
		return -ENOMEM;
	led->dev = dev;
	led->color = pdata->color;
	led->max_brightness = pdata->max_brightness;
	led->brightness = pdata->default_brightness;
	err = devm_add_action_or_reset(dev, kmled_off, led);
	if (err)
		return err;
	platform_set_drvdata(pdev, led);
	dev_info(dev, "%s LED ready, brightness %u of %u\n", led->color, led->brightness,
		 led->max_brightness);
	return 0;
	/* END SOLUTION */
	return -ENODEV;	/* the skeleton's: "not my device", so nothing binds */
}

static ssize_t brightness_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct kmled *led = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", READ_ONCE(led->brightness));
}

static ssize_t brightness_store(struct device *dev, struct device_attribute *attr,
				const char *buf, size_t count)
{
	struct kmled *led = dev_get_drvdata(dev);
	unsigned int value;
	int err = kstrtouint(buf, 10, &value);

	if (err)
		return err;
	if (value > led->max_brightness)
		return -EINVAL;
	WRITE_ONCE(led->brightness, value);
	return count;
}
static DEVICE_ATTR_RW(brightness);	/* mode 0644, brightness_show/_store */

static struct attribute *kmled_attrs[] = {
	&dev_attr_brightness.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kmled);

static struct platform_driver kmled_driver = {
	.probe = kmled_probe,
	.driver = {
		.name = "kmled",
		.dev_groups = kmled_groups,
	},
};

static struct platform_device *pdev;

static int __init kmled_init(void)
{
	struct kmled_pdata pdata = {
		.color = "red",
		.max_brightness = 10,
		.default_brightness = min(brightness, 10U),
	};
	int err = platform_driver_register(&kmled_driver);

	if (err)
		return err;
	pdev = platform_device_register_data(NULL, "kmled", 0, &pdata, sizeof(pdata));
	if (IS_ERR(pdev)) {
		platform_driver_unregister(&kmled_driver);
		return PTR_ERR(pdev);
	}
	return 0;
}

static void __exit kmled_exit(void)
{
	platform_device_unregister(pdev);
	platform_driver_unregister(&kmled_driver);
}

module_init(kmled_init);
module_exit(kmled_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A platform driver for a pretend LED, with devm and a sysfs attribute");
