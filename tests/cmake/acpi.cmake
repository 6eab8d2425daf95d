# acpi.cmake: ACPI tables and AML (label acpi). acpi_tables writes every case's tables to
# <build>/acpi_tables/; acpi_acpica then runs Debian's acpica-tools (iasl -d, acpiexec) over them.
foreach(t acpi_aml_encoding acpi_tables acpi_registers acpi_boot_handoff)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES LABELS "unit;acpi")
  endif()
endforeach()
if(TEST acpi_tables)
  set_tests_properties(acpi_tables PROPERTIES FIXTURES_SETUP acpi_table_files)
endif()

find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME acpi_acpica
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/scripts/acpi_acpica.py
                   ${CMAKE_BINARY_DIR}/acpi_tables)
  set_tests_properties(acpi_acpica PROPERTIES SKIP_RETURN_CODE 77 LABELS acpi TIMEOUT 900
                       FIXTURES_REQUIRED acpi_table_files)
endif()

# A freestanding guest reads the tables as an OS does and powers off / resets through the FADT
# (label acpi and kvm). Deferred: cocoon_add_guest is defined by vmm.cmake, included after us.
function(cocoon_acpi_guest_test)
  cocoon_add_guest(guest_acpi_power ${CMAKE_SOURCE_DIR}/tests/guest/acpi_power.c)
  add_test(NAME acpi_guest_power
           COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/scripts/acpi_guest_test.py
                   $<TARGET_FILE:cocoon> ${CMAKE_BINARY_DIR}/tests/guest/guest_acpi_power.elf)
  set_tests_properties(acpi_guest_power PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
                       LABELS "acpi;kvm")
endfunction()
cmake_language(DEFER CALL cocoon_acpi_guest_test)

# The Linux test guest with ACPI: tiny.config + tests/linux-guest/acpi.config (SMP, ACPI, button,
# CPU and acpiphp hot-plug), cached like the plain guest, and a /init that reports what Linux took
# from the tables and leaves through ACPI. Labels acpi, linux_guest and kvm; ~3 boots of 1-3 min.
set(ACPI_GUEST_DIR ${CMAKE_BINARY_DIR}/linux-guest-acpi)
add_executable(acpi_linux_init ${CMAKE_SOURCE_DIR}/tests/scripts/acpi_linux_init.c)
target_compile_options(acpi_linux_init PRIVATE -Os -Wall -Wextra -Werror -D_GNU_SOURCE)
set_property(TARGET acpi_linux_init PROPERTY LINK_OPTIONS -static -s)
add_custom_command(
  OUTPUT ${ACPI_GUEST_DIR}/initramfs.cpio
  COMMAND ${CMAKE_COMMAND} -E make_directory ${ACPI_GUEST_DIR}/root
  COMMAND ${CMAKE_COMMAND} -E copy $<TARGET_FILE:acpi_linux_init> ${ACPI_GUEST_DIR}/root/init
  COMMAND sh -c "cd '${ACPI_GUEST_DIR}/root' && echo init | cpio -o -H newc -R 0:0 --quiet > ../initramfs.cpio.tmp && mv ../initramfs.cpio.tmp ../initramfs.cpio"
  DEPENDS acpi_linux_init
  VERBATIM)
add_custom_target(acpi_linux_initramfs ALL DEPENDS ${ACPI_GUEST_DIR}/initramfs.cpio)

add_test(NAME acpi_linux_guest_kernel
         COMMAND sh -c "if [ ! -c /dev/kvm ] || [ \"$(id -u)\" -ne 0 ]; then echo 'no /dev/kvm or not root: ACPI guest kernel not built'; exit 0; fi; exec '${CMAKE_SOURCE_DIR}/tests/scripts/build-linux-guest.sh' --extra-config '${CMAKE_SOURCE_DIR}/tests/linux-guest/acpi.config' --link '${ACPI_GUEST_DIR}/vmlinux'")
set_tests_properties(acpi_linux_guest_kernel PROPERTIES FIXTURES_SETUP acpi_linux_guest_kernel
                     TIMEOUT 3600 PROCESSORS 2 LABELS "acpi;linux_guest")
add_test(NAME acpi_linux_guest
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/scripts/acpi_linux_guest_test.py
                 $<TARGET_FILE:cocoon> ${ACPI_GUEST_DIR}/vmlinux ${ACPI_GUEST_DIR}/initramfs.cpio)
set_tests_properties(acpi_linux_guest PROPERTIES FIXTURES_REQUIRED acpi_linux_guest_kernel
                     SKIP_RETURN_CODE 77 TIMEOUT 2700 LABELS "acpi;linux_guest;kvm")
