// SPDX-License-Identifier: GPL-2.0
/*
 * edufact.c - a PCI driver for QEMU's edu device that computes factorials with it.
 *
 * Write a number to /dev/edufact and read back its factorial: the driver hands the
 * number to the device through a register, asks for an interrupt when the result is
 * ready, and sleeps until it comes. The interrupt is an MSI, taken in two halves:
 * edufact_irq() runs in hard interrupt context and only acknowledges the device;
 * edufact_thread() runs in a kernel thread of its own, reads the result and wakes
 * the writer.
 *
 * The device computes in 32 bits: 12! is the largest factorial it gets right.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/completion.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/fs.h>
#include <linux/uaccess.h>

#define EDU_ID		0x00
#define EDU_LIVENESS	0x04
#define EDU_FACT	0x08	/* write n: the device computes n! and puts it here */
#define EDU_STATUS	0x20
#define   EDU_STATUS_COMPUTING	0x01
#define   EDU_STATUS_IRQFACT	0x80	/* raise an interrupt when the factorial is done */
#define EDU_IRQ_STATUS	0x24	/* why the device interrupted (bit 0: factorial) */
#define EDU_IRQ_ACK	0x64	/* write those bits back to lower the interrupt */
#define EDU_IRQ_FACT	0x01

struct edufact {
	void __iomem *regs;
	struct miscdevice misc;
	struct mutex lock;		/* one computation at a time */
	struct completion done;		/* the interrupt said the result is there */
	u32 irq_status;			/* what the hard handler saw, for the thread */
	u32 result;
	char answer[16];		/* what read() returns: "3628800\n" */
	size_t answer_len;
};

static irqreturn_t edufact_irq(int irq, void *data)
{
	struct edufact *edu = data;
	u32 status = ioread32(edu->regs + EDU_IRQ_STATUS);

	if (!status)
		return IRQ_NONE;	/* not ours (it would matter on a shared line) */
	iowrite32(status, edu->regs + EDU_IRQ_ACK);
	edu->irq_status = status;
	return IRQ_WAKE_THREAD;	/* the rest runs in edufact_thread() */
}

static irqreturn_t edufact_thread(int irq, void *data)
{
	struct edufact *edu = data;

	if (edu->irq_status & EDU_IRQ_FACT) {
		edu->result = ioread32(edu->regs + EDU_FACT);
		pr_info("edufact: interrupt %d, handled in thread %s\n", irq, current->comm);
		complete(&edu->done);
	}
	return IRQ_HANDLED;
}

static ssize_t edufact_write(struct file *file, const char __user *buf, size_t count,
			     loff_t *ppos)
{
	struct edufact *edu = container_of(file->private_data, struct edufact, misc);
	unsigned int n;
	int err;

	err = kstrtouint_from_user(buf, count, 0, &n);
	if (err)
		return err;
	if (n > 12)
		return -ERANGE;	/* 13! does not fit in the device's 32 bits */

	mutex_lock(&edu->lock);
	reinit_completion(&edu->done);
	iowrite32(EDU_STATUS_IRQFACT, edu->regs + EDU_STATUS);
	iowrite32(n, edu->regs + EDU_FACT);	/* starts the computation */
	if (!wait_for_completion_timeout(&edu->done, HZ)) {
		mutex_unlock(&edu->lock);
		return -ETIMEDOUT;
	}
	edu->answer_len = scnprintf(edu->answer, sizeof(edu->answer), "%u\n", edu->result);
	pr_info("edufact: %u! = %u\n", n, edu->result);
	mutex_unlock(&edu->lock);
	return count;
}

static ssize_t edufact_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct edufact *edu = container_of(file->private_data, struct edufact, misc);
	ssize_t ret;

	mutex_lock(&edu->lock);
	ret = simple_read_from_buffer(buf, count, ppos, edu->answer, edu->answer_len);
	mutex_unlock(&edu->lock);
	return ret;
}

static const struct file_operations edufact_fops = {
	.owner = THIS_MODULE,
	.read = edufact_read,
	.write = edufact_write,
	.llseek = default_llseek,
};

static int edufact_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edufact *edu;
	int err, irq;

	edu = devm_kzalloc(&pdev->dev, sizeof(*edu), GFP_KERNEL);
	if (!edu)
		return -ENOMEM;
	mutex_init(&edu->lock);
	init_completion(&edu->done);

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	err = pcim_iomap_regions(pdev, BIT(0), "edufact");
	if (err)
		return err;
	edu->regs = pcim_iomap_table(pdev)[0];
	pci_set_master(pdev);	/* an MSI is a write to memory by the device */

	/* One vector, MSI only: no fallback to the legacy INTx line. */
	err = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (err < 0)
		return err;
	irq = pci_irq_vector(pdev, 0);
	err = devm_request_threaded_irq(&pdev->dev, irq, edufact_irq, edufact_thread, 0,
					"edufact", edu);
	if (err)
		return err;

	edu->misc.minor = MISC_DYNAMIC_MINOR;
	edu->misc.name = "edufact";
	edu->misc.fops = &edufact_fops;
	edu->misc.mode = 0666;
	edu->misc.parent = &pdev->dev;
	err = misc_register(&edu->misc);
	if (err)
		return err;
	pci_set_drvdata(pdev, edu);
	dev_info(&pdev->dev, "MSI as interrupt %d, /dev/edufact ready\n", irq);
	return 0;
}

static void edufact_remove(struct pci_dev *pdev)
{
	struct edufact *edu = pci_get_drvdata(pdev);

	misc_deregister(&edu->misc);
	dev_info(&pdev->dev, "removed\n");
}

static const struct pci_device_id edufact_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edufact_ids);

static struct pci_driver edufact_driver = {
	.name = "edufact",
	.id_table = edufact_ids,
	.probe = edufact_probe,
	.remove = edufact_remove,
};
module_pci_driver(edufact_driver);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("Factorials computed by QEMU's edu PCI device, with an MSI");
