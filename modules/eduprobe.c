// SPDX-License-Identifier: GPL-2.0
/*
 * eduprobe.c - the smallest useful PCI driver for QEMU's "edu" device (1234:11e8):
 * it claims the device by its IDs, enables it, maps its register window (BAR 0) and
 * reads two registers: the identification register and the liveness check.
 *
 * Everything it takes is "managed" (pcim_*, devm_*): released by the driver core
 * when the device is unbound, so remove() has nothing left to undo.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/pci.h>

#define EDU_ID		0x00	/* 0xRRrr00ed: major, minor version, then 0xed */
#define EDU_LIVENESS	0x04	/* reads back the bitwise NOT of what was written */

static const struct pci_device_id eduprobe_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, eduprobe_ids);

static int eduprobe_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	void __iomem *regs;
	u32 ident, alive;
	int err;

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	/* Claim BAR 0 (bit 0 of the mask) for this driver and map it. */
	err = pcim_iomap_regions(pdev, BIT(0), "eduprobe");
	if (err)
		return err;
	regs = pcim_iomap_table(pdev)[0];

	ident = ioread32(regs + EDU_ID);
	iowrite32(0x12345678, regs + EDU_LIVENESS);
	alive = ioread32(regs + EDU_LIVENESS);
	dev_info(&pdev->dev, "edu version %u.%u (ID register 0x%08x), BAR 0: %pR\n",
		 ident >> 24, (ident >> 16) & 0xff, ident, &pdev->resource[0]);
	dev_info(&pdev->dev, "liveness: wrote 0x12345678, read back 0x%08x (%s)\n",
		 alive, alive == ~0x12345678u ? "alive" : "NOT the inverse");
	return 0;
}

static void eduprobe_remove(struct pci_dev *pdev)
{
	dev_info(&pdev->dev, "removed\n");
}

static struct pci_driver eduprobe_driver = {
	.name = "eduprobe",
	.id_table = eduprobe_ids,
	.probe = eduprobe_probe,
	.remove = eduprobe_remove,
};
module_pci_driver(eduprobe_driver);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Probe QEMU's edu PCI device and read its ID and liveness registers");
