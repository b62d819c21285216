// SPDX-License-Identifier: GPL-2.0
/*
 * kmplat.c - a platform driver, and a platform device for it to drive, in one module.
 *
 * Init registers the driver "kmplat", then a device "kmplat.0" with a little platform
 * data, as board code would (on real hardware the device tree or ACPI describes such
 * devices, and the kernel creates them at boot). The platform bus matches the two by
 * name and calls kmplat_probe(), which takes everything it needs with devm_* calls:
 * the driver core releases those by itself after remove(), in reverse order, and after
 * a probe that fails. The devm action kmplat_release() only prints, to show when.
 *
 * While the driver is bound, the device has a "label" attribute in sysfs (created and
 * removed by the driver core, from .dev_groups). Unbinding and binding again through
 * /sys/bus/platform/drivers/kmplat/{unbind,bind} calls remove() and probe() again.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/device.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct kmplat_pdata {		/* what the board code tells the driver */
	const char *label;
};

struct kmplat_priv {		/* what the driver keeps while bound */
	struct device *dev;
	const char *label;
	unsigned int probe;	/* which call of probe() made it: 1, 2, ... */
};

static bool fail_probe;
module_param(fail_probe, bool, 0644);
MODULE_PARM_DESC(fail_probe, "Make probe() fail after it has taken its resources");

static unsigned int probes;	/* calls of probe(), to number the messages */

static void kmplat_release(void *data)
{
	struct kmplat_priv *priv = data;

	dev_info(priv->dev, "devm: releasing what probe %u took\n", priv->probe);
}

static int kmplat_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	const struct kmplat_pdata *pdata = dev_get_platdata(dev);
	struct kmplat_priv *priv;
	int err;

	if (!pdata)
		return dev_err_probe(dev, -EINVAL, "no platform data\n");
	priv = devm_kzalloc(dev, sizeof(*priv), GFP_KERNEL);	/* freed after remove() */
	if (!priv)
		return -ENOMEM;
	priv->dev = dev;
	priv->label = devm_kstrdup(dev, pdata->label, GFP_KERNEL);
	if (!priv->label)
		return -ENOMEM;		/* priv is freed for us: no goto ladder */
	priv->probe = ++probes;
	err = devm_add_action_or_reset(dev, kmplat_release, priv);
	if (err)
		return err;
	if (READ_ONCE(fail_probe))	/* everything above is released for us */
		return dev_err_probe(dev, -EIO, "probe %u fails on purpose\n", priv->probe);
	platform_set_drvdata(pdev, priv);
	dev_info(dev, "probe %u: bound, label \"%s\"\n", priv->probe, priv->label);
	return 0;
}

static void kmplat_remove(struct platform_device *pdev)
{
	struct kmplat_priv *priv = platform_get_drvdata(pdev);

	dev_info(&pdev->dev, "remove: unbinding what probe %u bound\n", priv->probe);
}

static ssize_t label_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct kmplat_priv *priv = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s\n", priv->label);
}
static DEVICE_ATTR_RO(label);		/* dev_attr_label: mode 0444, label_show() */

static struct attribute *kmplat_attrs[] = {
	&dev_attr_label.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kmplat);		/* kmplat_groups, for .dev_groups */

static struct platform_driver kmplat_driver = {
	.probe = kmplat_probe,
	.remove_new = kmplat_remove,	/* void; plain .remove returns an int nobody reads */
	.driver = {
		.name = "kmplat",
		.dev_groups = kmplat_groups,
	},
};

static const struct kmplat_pdata board_pdata = {
	.label = "the lab's first board",
};

static struct platform_device *pdev;

static int __init kmplat_init(void)
{
	int err = platform_driver_register(&kmplat_driver);

	if (err)
		return err;
	/* the board code's part: a device "kmplat" number 0, with a copy of board_pdata */
	pdev = platform_device_register_data(NULL, "kmplat", 0, &board_pdata, sizeof(board_pdata));
	if (IS_ERR(pdev)) {
		platform_driver_unregister(&kmplat_driver);
		return PTR_ERR(pdev);
	}
	return 0;
}

static void __exit kmplat_exit(void)
{
	platform_device_unregister(pdev);	/* unbinds it first: remove(), then devm */
	platform_driver_unregister(&kmplat_driver);
}

module_init(kmplat_init);
module_exit(kmplat_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A platform device and driver: probe, remove, devm, sysfs binding");
