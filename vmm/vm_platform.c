/* vm_platform.c: a VM's legacy-port platform: 16550 console, debug port, i8042, firmware devices.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/debug_port.h"
#include "devices/i8042.h"
#include "devices/uart16550.h"
#include "vmm/boot_firmware.h"
#include "vmm/console.h"
#include "vmm/console_out.h"
#include "vmm/vm_devices.h"
#include "vmm/vm_internal.h"

static void vm_uart_irq(void *opaque, bool level)
{
    vm_irq_line(opaque, VM_IRQ_COM1, level);
}

static void vm_guest_poweroff(void *opaque, int status)
{
    vm_request_exit(opaque, VM_EXIT_POWEROFF, status);
}

static void vm_guest_reset(void *opaque)
{
    vm_request_exit(opaque, VM_EXIT_RESET, 0);
}

/* Opens --serial file=PATH without ever waiting: O_NONBLOCK makes a FIFO with no reader fail at
 * once (ENXIO) instead of hanging the loop in open(); the type is checked on the opened fd. */
static int vm_open_serial_file(struct vm *vm, char *err, size_t errlen)
{
    const char *path = vm->cfg.serial_file;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open serial file '%s': %s", path,
                 errno == ENXIO ? "it is a FIFO that nobody has open for reading"
                                : strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 ||
        !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
        snprintf(err, errlen, "serial file '%s' is not a regular file, character device or FIFO",
                 path);
        close(fd);
        return -1;
    }
    if (S_ISREG(st.st_mode)) /* a regular file's writes are not non-blocking anyway */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    vm->console_fd = fd;
    return fd;
}

static int vm_console_fd(struct vm *vm, char *err, size_t errlen)
{
    switch (vm->cfg.serial) {
    case SERIAL_TTY:
        return STDOUT_FILENO;
    case SERIAL_FILE:
        return vm_open_serial_file(vm, err, errlen) < 0 ? -2 : vm->console_fd;
    default:
        return -1;
    }
}

/* A firmware boot (--firmware, plain or TEE): fw_cfg with its files and the kernel items, CMOS,
 * the debug console (vmm/boot_firmware.c). Direct kernel boots have none of these. */
int vm_attach_firmware(struct vm *vm, char *err, size_t errlen)
{
    return vm->cfg.firmware ? boot_firmware_attach(vm, err, errlen) : 0;
}

static void vm_console_tx(void *opaque, const uint8_t *buf, size_t len)
{
    console_out_put(opaque, buf, len);
}

/* The 16550 console (with its input and output paths), the debug port and the i8042 reset line:
 * the platform devices every VM has. */
int vm_attach_platform(struct vm *vm, char *err, size_t errlen)
{
    int out = vm_console_fd(vm, err, errlen);
    if (out == -2)
        return -1;
    /* Console output: buffered on the vCPU thread, written by the loop (vmm/console_out.h). */
    struct console_out *co = console_out_start(vm->loop, out, err, errlen);
    if (!co || vm_add_device(vm, "console-output", console_out_stop, co) < 0) {
        if (co)
            snprintf(err, errlen, "too many devices");
        return -1;
    }
    struct uart16550 *uart = uart16550_new(vm_console_tx, co, vm_uart_irq, vm);
    struct debug_port *dbg = calloc(1, sizeof(*dbg));
    struct i8042 *kbd = calloc(1, sizeof(*kbd));
    int rc = (uart && dbg && kbd) ? 0 : -1;
    rc |= vm_add_device(vm, "uart16550", uart16550_free, uart);
    rc |= vm_add_device(vm, "debug-port", free, dbg);
    rc |= vm_add_device(vm, "i8042", free, kbd);
    if (rc < 0 || !uart || !dbg || !kbd) {
        snprintf(err, errlen, "out of memory attaching platform devices");
        return -1;
    }
    dbg->on_exit = vm_guest_poweroff;
    dbg->opaque = vm;
    kbd->on_reset = vm_guest_reset;
    kbd->opaque = vm;
    rc |= bus_register(vm->pio, UART_COM1_BASE, UART_NR_PORTS, uart16550_io, uart);
    rc |= bus_register(vm->pio, DEBUG_PORT_BOOT_TIMER, 1, debug_port_timer_io, dbg);
    rc |= bus_register(vm->pio, DEBUG_PORT_EXIT, 1, debug_port_exit_io, dbg);
    rc |= bus_register(vm->pio, I8042_DATA_PORT, 1, i8042_data_io, kbd);
    rc |= bus_register(vm->pio, I8042_COMMAND_PORT, 1, i8042_command_io, kbd);
    if (rc < 0) {
        snprintf(err, errlen, "cannot register platform device ports");
        return -1;
    }
    if (vm->cfg.serial == SERIAL_TTY) { /* stdin feeds the console (if it can be polled) */
        struct console_in *in = console_in_start(vm->loop, STDIN_FILENO, uart);
        if (in && vm_add_device(vm, "console-input", console_in_stop, in) < 0) {
            snprintf(err, errlen, "too many devices");
            return -1;
        }
    }
    return 0;
}
