// SPDX-License-Identifier: GPL-2.0
/*
 * edubell.c - the exercise of lesson 16: edu as a doorbell. Writing a number to
 * /dev/edubell makes the driver write it to the device's interrupt raise register;
 * the device ORs it into its interrupt status register and sends an MSI. The hard
 * handler reads that status and acknowledges it, the thread handler logs it and
 * wakes the writer, and reading /dev/edubell gives the status the last interrupt
 * carried.
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

#define EDU_IRQ_STATUS	0x24	/* why the device interrupted */
#define EDU_IRQ_RAISE	0x60	/* write bits here: the device ORs them into the status */
#define EDU_IRQ_ACK	0x64	/* write bits here: the device clears them */

struct edubell {
	void __iomem *regs;
	struct miscdevice misc;
	struct mutex lock;		/* one ring at a time */
	struct completion rang;
	u32 status;			/* from the hard handler to the thread */
	u32 last;			/* what the last interrupt carried */
	char answer[16];
	size_t answer_len;
};

static irqreturn_t edubell_irq(int irq, void *data)
{
	/* TODO: data is the struct edubell. Read the device's interrupt status register:
	 * 0 means the interrupt was not the device's (return IRQ_NONE). Otherwise write
	 * the same bits to the acknowledge register, keep them in bell->status for the
	 * thread handler, and return IRQ_WAKE_THREAD */
	/* BEGIN SOLUTION */
	struct edubell *bell = data;
	u32 status = ioread32(bell->regs + EDU_IRQ_STATUS);

	if (!status)
		return IRQ_NONE;
	iowrite32(status, bell->regs + EDU_IRQ_ACK);
	bell->status = status;
	return IRQ_WAKE_THREAD;
	/* END SOLUTION */
	return IRQ_NONE;	/* the skeleton's: "not my interrupt" */
}

static irqreturn_t edubell_thread(int irq, void *data)
{
	struct edubell *bell = data;

	bell->last = bell->status;
	pr_info("edubell: interrupt with status 0x%x\n", bell->last);
	complete(&bell->rang);
	return IRQ_HANDLED;
}

static ssize_t edubell_write(struct file *file, const char __user *buf, size_t count,
			     loff_t *ppos)
{
	struct edubell *bell = container_of(file->private_data, struct edubell, misc);
	unsigned int value;
	int err;

	err = kstrtouint_from_user(buf, count, 0, &value);
	if (err)
		return err;
	if (!value)
		return -EINVAL;	/* raising no bits raises no interrupt */

	mutex_lock(&bell->lock);
	reinit_completion(&bell->rang);
	iowrite32(value, bell->regs + EDU_IRQ_RAISE);
	if (!wait_for_completion_timeout(&bell->rang, HZ)) {
		mutex_unlock(&bell->lock);
		return -ETIMEDOUT;
	}
	bell->answer_len = scnprintf(bell->answer, sizeof(bell->answer), "%u\n", bell->last);
	mutex_unlock(&bell->lock);
	return count;
}

static ssize_t edubell_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct edubell *bell = container_of(file->private_data, struct edubell, misc);
	ssize_t ret;

	mutex_lock(&bell->lock);
	ret = simple_read_from_buffer(buf, count, ppos, bell->answer, bell->answer_len);
	mutex_unlock(&bell->lock);
	return ret;
}

static const struct file_operations edubell_fops = {
	.owner = THIS_MODULE,
	.read = edubell_read,
	.write = edubell_write,
	.llseek = default_llseek,
};

static int edubell_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edubell *bell;
	int err;

	bell = devm_kzalloc(&pdev->dev, sizeof(*bell), GFP_KERNEL);
	if (!bell)
		return -ENOMEM;
	mutex_init(&bell->lock);
	init_completion(&bell->rang);

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	err = pcim_iomap_regions(pdev, BIT(0), "edubell");
	if (err)
		return err;
	bell->regs = pcim_iomap_table(pdev)[0];
	pci_set_master(pdev);

	err = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (err < 0)
		return err;
	err = devm_request_threaded_irq(&pdev->dev, pci_irq_vector(pdev, 0), edubell_irq,
					edubell_thread, 0, "edubell", bell);
	if (err)
		return err;

	bell->misc.minor = MISC_DYNAMIC_MINOR;
	bell->misc.name = "edubell";
	bell->misc.fops = &edubell_fops;
	bell->misc.mode = 0666;
	bell->misc.parent = &pdev->dev;
	err = misc_register(&bell->misc);
	if (err)
		return err;
	pci_set_drvdata(pdev, bell);
	dev_info(&pdev->dev, "/dev/edubell ready\n");
	return 0;
}

static void edubell_remove(struct pci_dev *pdev)
{
	struct edubell *bell = pci_get_drvdata(pdev);

	misc_deregister(&bell->misc);
	dev_info(&pdev->dev, "removed\n");
}

static const struct pci_device_id edubell_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edubell_ids);

static struct pci_driver edubell_driver = {
	.name = "edubell",
	.id_table = edubell_ids,
	.probe = edubell_probe,
	.remove = edubell_remove,
};
module_pci_driver(edubell_driver);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic course");
MODULE_DESCRIPTION("A doorbell: interrupts raised through QEMU's edu device");
