/* vm_pci.h: a VM's PCI segment (host bridge, MSI routing). */
#ifndef COCOON_VM_PCI_H
#define COCOON_VM_PCI_H

#include <stddef.h>

struct vm;

/* Creates vm->msi (KVM GSI routing, irqfd, ioeventfd) and vm->pci (host bridge at 00:00.0,
 * ports 0xCF8/0xCFC) and records them for teardown. Call from vm_attach_devices before any
 * PCI device attaches. Loop thread. Returns 0, or -1 with one line in err. */
int vm_attach_pci(struct vm *vm, char *err, size_t errlen);

#endif
