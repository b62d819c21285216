// SPDX-License-Identifier: GPL-2.0
/*
 * edumap.c - the exercise of lesson 17: the DMA buffer of edudma.c, mapped into the
 * program that opens /dev/edumap. The program writes and reads the page in place,
 * with no read() or write() and no copy through the kernel, and asks for transfers
 * with an ioctl: EDUMAP_TO_DEVICE moves bytes from the page to the device's buffer,
 * EDUMAP_FROM_DEVICE from the device's buffer into the page, each at the offsets
 * and for the length it gives.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/completion.h>
#include <linux/dma-mapping.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/mm.h>
#include <linux/fs.h>
#include <linux/uaccess.h>

#define EDU_IRQ_STATUS	0x24
#define EDU_IRQ_ACK	0x64
#define EDU_IRQ_DMA	0x100
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define   EDU_DMA_START		0x01
#define   EDU_DMA_TO_RAM	0x02
#define   EDU_DMA_IRQ		0x04
#define EDU_BUF_ADDR	0x40000
#define EDU_BUF_SIZE	4096	/* the DMA buffer: the page a program maps */
#define EDU_DEV_SIZE	4095	/* QEMU 7.2's edu: never touch its last byte (edudma.c) */

struct edumap_xfer {
	__u32 ram_off;		/* offset in the mapped page */
	__u32 dev_off;		/* offset in the device's buffer */
	__u32 len;
};
#define EDUMAP_TO_DEVICE	_IOW('E', 1, struct edumap_xfer)
#define EDUMAP_FROM_DEVICE	_IOW('E', 2, struct edumap_xfer)

struct edumap {
	void __iomem *regs;
	struct device *dev;
	void *buf;
	dma_addr_t bus;
	struct completion done;
	struct mutex lock;
	struct miscdevice misc;
};

static irqreturn_t edumap_irq(int irq, void *data)
{
	struct edumap *edu = data;
	u32 status = ioread32(edu->regs + EDU_IRQ_STATUS);

	if (!status)
		return IRQ_NONE;
	iowrite32(status, edu->regs + EDU_IRQ_ACK);
	if (status & EDU_IRQ_DMA)
		complete(&edu->done);
	return IRQ_HANDLED;
}

static int edumap_transfer(struct edumap *edu, bool to_ram, const struct edumap_xfer *x)
{
	u64 ram = edu->bus + x->ram_off, device = EDU_BUF_ADDR + x->dev_off;

	reinit_completion(&edu->done);
	writeq(to_ram ? device : ram, edu->regs + EDU_DMA_SRC);
	writeq(to_ram ? ram : device, edu->regs + EDU_DMA_DST);
	writeq(x->len, edu->regs + EDU_DMA_COUNT);
	writeq(EDU_DMA_START | EDU_DMA_IRQ | (to_ram ? EDU_DMA_TO_RAM : 0),
	       edu->regs + EDU_DMA_CMD);
	if (!wait_for_completion_timeout(&edu->done, HZ))
		return -ETIMEDOUT;
	return 0;
}

static long edumap_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct edumap *edu = container_of(file->private_data, struct edumap, misc);
	struct edumap_xfer x;
	int err;

	if (cmd != EDUMAP_TO_DEVICE && cmd != EDUMAP_FROM_DEVICE)
		return -ENOTTY;
	if (copy_from_user(&x, (void __user *)arg, sizeof(x)))
		return -EFAULT;
	/* Both ranges must lie inside their buffers: the device checks nothing. */
	if (!x.len || x.len > EDU_DEV_SIZE || x.ram_off > EDU_BUF_SIZE - x.len ||
	    x.dev_off > EDU_DEV_SIZE - x.len)
		return -EINVAL;

	mutex_lock(&edu->lock);
	err = edumap_transfer(edu, cmd == EDUMAP_FROM_DEVICE, &x);
	mutex_unlock(&edu->lock);
	if (!err)
		dev_info(edu->dev, "%u bytes %s (page offset %u, device offset %u)\n", x.len,
			 cmd == EDUMAP_FROM_DEVICE ? "device -> RAM" : "RAM -> device",
			 x.ram_off, x.dev_off);
	return err;
}

static int edumap_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct edumap *edu = container_of(file->private_data, struct edumap, misc);
	size_t size = vma->vm_end - vma->vm_start;

	/* TODO: map the DMA buffer into the program: refuse (-EINVAL) a mapping larger
	 * than EDU_BUF_SIZE or one that starts past the buffer's first page
	 * (vma->vm_pgoff != 0), then let dma_mmap_coherent() map edu->buf, and log
	 * "edumap: mapped N bytes" with N the size of the mapping */
	/* BEGIN SOLUTION */
	int err;

	if (size > EDU_BUF_SIZE || vma->vm_pgoff != 0)
		return -EINVAL;
	err = dma_mmap_coherent(edu->dev, vma, edu->buf, edu->bus, size);
	if (err)
		return err;
	pr_info("edumap: mapped %zu bytes\n", size);
	return 0;
	/* END SOLUTION */
	dev_dbg(edu->dev, "mmap of %zu bytes refused\n", size);
	return -ENODEV;	/* the skeleton's: "this device cannot be mapped" */
}

static const struct file_operations edumap_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = edumap_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = edumap_mmap,
};

static int edumap_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edumap *edu;
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
	err = pcim_iomap_regions(pdev, BIT(0), "edumap");
	if (err)
		return err;
	edu->regs = pcim_iomap_table(pdev)[0];
	pci_set_master(pdev);
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(28));
	if (err)
		return err;
	edu->buf = dmam_alloc_coherent(&pdev->dev, EDU_BUF_SIZE, &edu->bus, GFP_KERNEL);
	if (!edu->buf)
		return -ENOMEM;
	err = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (err < 0)
		return err;
	err = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, 0), edumap_irq, 0,
			       "edumap", edu);
	if (err)
		return err;

	edu->misc.minor = MISC_DYNAMIC_MINOR;
	edu->misc.name = "edumap";
	edu->misc.fops = &edumap_fops;
	edu->misc.mode = 0666;
	edu->misc.parent = &pdev->dev;
	err = misc_register(&edu->misc);
	if (err)
		return err;
	pci_set_drvdata(pdev, edu);
	dev_info(&pdev->dev, "/dev/edumap ready\n");
	return 0;
}

static void edumap_remove(struct pci_dev *pdev)
{
	struct edumap *edu = pci_get_drvdata(pdev);

	misc_deregister(&edu->misc);
	dev_info(&pdev->dev, "removed\n");
}

static const struct pci_device_id edumap_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edumap_ids);

static struct pci_driver edumap_driver = {
	.name = "edumap",
	.id_table = edumap_ids,
	.probe = edumap_probe,
	.remove = edumap_remove,
};
module_pci_driver(edumap_driver);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("The edu device's DMA buffer, mapped into a program");
