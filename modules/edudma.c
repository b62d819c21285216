// SPDX-License-Identifier: GPL-2.0
/*
 * edudma.c - DMA with QEMU's edu device: /dev/edudma is the device's own 4 KiB
 * buffer. A write() copies the bytes into a DMA buffer in RAM and has the device
 * fetch them (RAM -> device); a read() has the device store its buffer into RAM
 * (device -> RAM) and copies them out. The CPU never touches the device's buffer:
 * the device moves the bytes itself, and says with an interrupt that it is done.
 *
 * The DMA buffer comes from dma_alloc_coherent() (the managed dmam_ version here):
 * memory the CPU and the device see alike, with no cache flushing to think about,
 * at a bus address the device can reach. edu's DMA engine uses 28 address bits,
 * which the driver declares with dma_set_mask_and_coherent().
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/completion.h>
#include <linux/dma-mapping.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/fs.h>
#include <linux/uaccess.h>

#define EDU_IRQ_STATUS	0x24
#define EDU_IRQ_ACK	0x64
#define EDU_IRQ_DMA	0x100	/* the interrupt status bit of a finished transfer */
#define EDU_DMA_SRC	0x80	/* 64-bit registers: source address, */
#define EDU_DMA_DST	0x88	/* destination address, */
#define EDU_DMA_COUNT	0x90	/* number of bytes, */
#define EDU_DMA_CMD	0x98	/* and command: */
#define   EDU_DMA_START		0x01	/* start; reads 1 until the transfer is done */
#define   EDU_DMA_TO_RAM	0x02	/* direction: device -> RAM (else RAM -> device) */
#define   EDU_DMA_IRQ		0x04	/* raise EDU_IRQ_DMA when done */
#define EDU_BUF_ADDR	0x40000	/* the device's buffer, at this address on its side */
#define EDU_BUF_SIZE	4096	/* the DMA buffer in RAM: one page */
/*
 * The device's buffer has 4096 bytes too, but QEMU 7.2's model (Debian 12's) stops the
 * whole machine, "hardware error: EDU: DMA range ... out of bounds", on a transfer
 * that reaches its last byte: its range check is off by one (newer QEMU fixed it).
 * Hardware has errata too; the driver works around this one by never using that byte.
 */
#define EDU_DEV_SIZE	4095

struct edudma {
	void __iomem *regs;
	struct device *dev;
	void *buf;		/* the DMA buffer, as the CPU sees it */
	dma_addr_t bus;		/* the same buffer, as the device sees it */
	struct completion done;
	struct mutex lock;	/* one transfer at a time, and the buffer with it */
	struct miscdevice misc;
};

static irqreturn_t edudma_irq(int irq, void *data)
{
	struct edudma *edu = data;
	u32 status = ioread32(edu->regs + EDU_IRQ_STATUS);

	if (!status)
		return IRQ_NONE;
	iowrite32(status, edu->regs + EDU_IRQ_ACK);
	if (status & EDU_IRQ_DMA)
		complete(&edu->done);	/* allowed in hard interrupt context */
	return IRQ_HANDLED;
}

/* Move len bytes between the DMA buffer and the device's buffer, both at offset off. */
static int edudma_transfer(struct edudma *edu, bool to_ram, size_t off, size_t len)
{
	u64 ram = edu->bus + off, device = EDU_BUF_ADDR + off;

	reinit_completion(&edu->done);
	writeq(to_ram ? device : ram, edu->regs + EDU_DMA_SRC);
	writeq(to_ram ? ram : device, edu->regs + EDU_DMA_DST);
	writeq(len, edu->regs + EDU_DMA_COUNT);
	writeq(EDU_DMA_START | EDU_DMA_IRQ | (to_ram ? EDU_DMA_TO_RAM : 0),
	       edu->regs + EDU_DMA_CMD);
	if (!wait_for_completion_timeout(&edu->done, HZ))
		return -ETIMEDOUT;
	dev_info(edu->dev, "%zu bytes %s at offset %zu\n", len,
		 to_ram ? "device -> RAM" : "RAM -> device", off);
	return 0;
}

static ssize_t edudma_write(struct file *file, const char __user *ubuf, size_t count,
			    loff_t *ppos)
{
	struct edudma *edu = container_of(file->private_data, struct edudma, misc);
	loff_t pos = *ppos;
	size_t len;
	int err;

	if (pos < 0)
		return -EINVAL;
	if (pos >= EDU_DEV_SIZE)
		return count ? -ENOSPC : 0;
	len = min_t(size_t, count, EDU_DEV_SIZE - pos);
	if (!len)
		return 0;

	mutex_lock(&edu->lock);
	if (copy_from_user(edu->buf + pos, ubuf, len))
		err = -EFAULT;
	else
		err = edudma_transfer(edu, false, pos, len);
	mutex_unlock(&edu->lock);
	if (err)
		return err;
	*ppos = pos + len;
	return len;
}

static ssize_t edudma_read(struct file *file, char __user *ubuf, size_t count,
			   loff_t *ppos)
{
	struct edudma *edu = container_of(file->private_data, struct edudma, misc);
	loff_t pos = *ppos;
	size_t len;
	int err;

	if (pos < 0)
		return -EINVAL;
	if (pos >= EDU_DEV_SIZE)
		return 0;
	len = min_t(size_t, count, EDU_DEV_SIZE - pos);
	if (!len)
		return 0;

	mutex_lock(&edu->lock);
	memset(edu->buf + pos, 0, len);	/* whatever we return, the device wrote */
	err = edudma_transfer(edu, true, pos, len);
	if (!err && copy_to_user(ubuf, edu->buf + pos, len))
		err = -EFAULT;
	mutex_unlock(&edu->lock);
	if (err)
		return err;
	*ppos = pos + len;
	return len;
}

static const struct file_operations edudma_fops = {
	.owner = THIS_MODULE,
	.read = edudma_read,
	.write = edudma_write,
	.llseek = default_llseek,
};

static int edudma_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edudma *edu;
	int err;

	edu = devm_kzalloc(&pdev->dev, sizeof(*edu), GFP_KERNEL);
	if (!edu)
		return -ENOMEM;
	edu->dev = &pdev->dev;
	init_completion(&edu->done);
	mutex_init(&edu->lock);

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	err = pcim_iomap_regions(pdev, BIT(0), "edudma");
	if (err)
		return err;
	edu->regs = pcim_iomap_table(pdev)[0];
	pci_set_master(pdev);	/* DMA, like an MSI, is the device writing to memory */

	/* edu's DMA engine drops address bits above 27: say so before allocating. */
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(28));
	if (err)
		return err;
	edu->buf = dmam_alloc_coherent(&pdev->dev, EDU_BUF_SIZE, &edu->bus, GFP_KERNEL);
	if (!edu->buf)
		return -ENOMEM;

	err = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (err < 0)
		return err;
	err = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, 0), edudma_irq, 0,
			       "edudma", edu);
	if (err)
		return err;

	edu->misc.minor = MISC_DYNAMIC_MINOR;
	edu->misc.name = "edudma";
	edu->misc.fops = &edudma_fops;
	edu->misc.mode = 0666;
	edu->misc.parent = &pdev->dev;
	err = misc_register(&edu->misc);
	if (err)
		return err;
	pci_set_drvdata(pdev, edu);
	dev_info(&pdev->dev, "DMA buffer: %d bytes at bus address %pad\n", EDU_BUF_SIZE,
		 &edu->bus);
	return 0;
}

static void edudma_remove(struct pci_dev *pdev)
{
	struct edudma *edu = pci_get_drvdata(pdev);

	misc_deregister(&edu->misc);
	dev_info(&pdev->dev, "removed\n");
}

static const struct pci_device_id edudma_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edudma_ids);

static struct pci_driver edudma_driver = {
	.name = "edudma",
	.id_table = edudma_ids,
	.probe = edudma_probe,
	.remove = edudma_remove,
};
module_pci_driver(edudma_driver);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("DMA between RAM and QEMU's edu device");
