# firmware.cmake: firmware boot (--firmware) with a real firmware nobody here wrote: Debian's
# SeaBIOS reads the QEMU platform contract cocoon serves (fw_cfg DMA + files, etc/e820, Q35
# identity, PM timer, CMOS) and boots the Linux test guest through QEMU's pvh.bin option ROM.
# Run them with `ctest -L firmware`.
add_test(NAME firmware_seabios_boot
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/scripts/firmware_seabios_test.py --mode bios
                 --cocoon $<TARGET_FILE:cocoon>)
set_tests_properties(firmware_seabios_boot PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120
                     LABELS "firmware;kvm")

add_test(NAME firmware_seabios_linux
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/scripts/firmware_seabios_test.py --mode linux
                 --cocoon $<TARGET_FILE:cocoon> --kernel ${CMAKE_BINARY_DIR}/linux-guest/vmlinux
                 --initramfs ${CMAKE_BINARY_DIR}/linux-guest/initramfs.cpio)
set_tests_properties(firmware_seabios_linux PROPERTIES FIXTURES_REQUIRED linux_guest_kernel
                     SKIP_RETURN_CODE 77 TIMEOUT 900 PROCESSORS 2 LABELS "firmware;kvm")

# Debian's cloud bzImage through linuxboot_dma.bin (about 5 minutes here: the decompressor runs
# in emulated ring 0): command line and initrd through the patched header, the FADT's PM timer.
add_test(NAME firmware_seabios_bzimage
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/scripts/firmware_seabios_test.py --mode bzimage
                 --cocoon $<TARGET_FILE:cocoon> --kernel ${CMAKE_BINARY_DIR}/debian-kernel/bzImage
                 --initramfs ${CMAKE_BINARY_DIR}/linux-guest/initramfs.cpio --timeout 1200)
set_tests_properties(firmware_seabios_bzimage PROPERTIES FIXTURES_REQUIRED debian_kernel
                     SKIP_RETURN_CODE 77 TIMEOUT 1500 PROCESSORS 2 LABELS "firmware;kvm")

# cocoon's ACPI tables through SeaBIOS's table-loader, against a direct boot of the ACPI guest.
add_test(NAME firmware_seabios_acpi
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/scripts/firmware_seabios_test.py --mode acpi
                 --cocoon $<TARGET_FILE:cocoon> --kernel ${CMAKE_BINARY_DIR}/linux-guest-acpi/vmlinux
                 --initramfs ${CMAKE_BINARY_DIR}/linux-guest-acpi/initramfs.cpio --timeout 900)
set_tests_properties(firmware_seabios_acpi PROPERTIES FIXTURES_REQUIRED acpi_linux_guest_kernel
                     SKIP_RETURN_CODE 77 TIMEOUT 2000 PROCESSORS 2 LABELS "firmware;kvm")
