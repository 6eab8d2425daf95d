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
