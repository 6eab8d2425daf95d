# vmm.cmake: the freestanding test guests (tests/guest) and the VMM core's KVM integration tests.

# Test guests: no libc, linked at 1 MiB with a PVH entry note, so they boot through the same PVH
# loader as a Linux vmlinux. Ring-0 code avoids instructions this host's KVM cannot emulate.
set(COCOON_GUEST_DIR ${CMAKE_SOURCE_DIR}/tests/guest)
set(COCOON_GUEST_CFLAGS
    -m64 -ffreestanding -fno-pic -fno-pie -mno-red-zone -fno-stack-protector
    -mgeneral-regs-only -fcf-protection=none -fno-tree-loop-distribute-patterns
    -fno-asynchronous-unwind-tables -fno-omit-frame-pointer -O2 -Wall -Wextra -Werror)

add_library(cocoon_guest_rt OBJECT ${COCOON_GUEST_DIR}/rt/start.S ${COCOON_GUEST_DIR}/rt/rt.c)
target_compile_options(cocoon_guest_rt PRIVATE ${COCOON_GUEST_CFLAGS})

# cocoon_add_guest(NAME SOURCES...): builds tests/guest/NAME.elf from SOURCES plus the runtime.
function(cocoon_add_guest name)
  add_executable(${name} ${ARGN} $<TARGET_OBJECTS:cocoon_guest_rt>)
  target_compile_options(${name} PRIVATE ${COCOON_GUEST_CFLAGS})
  target_include_directories(${name} PRIVATE ${COCOON_GUEST_DIR})
  # Replace (not extend) the host link options: no sanitizers or libc in a guest.
  set_property(TARGET ${name} PROPERTY LINK_OPTIONS
               -nostdlib -static -no-pie -Wl,-T,${COCOON_GUEST_DIR}/rt/guest.ld
               -Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments)
  set_target_properties(${name} PROPERTIES
    OUTPUT_NAME ${name} SUFFIX ".elf"
    LINK_DEPENDS ${COCOON_GUEST_DIR}/rt/guest.ld
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/guest)
endfunction()

foreach(g hello smp boot_timer spin reset speed echo)
  cocoon_add_guest(guest_${g} ${COCOON_GUEST_DIR}/${g}.c)
endforeach()

# Integration tests: tests/integration/vmm_guest_test.py CASE runs cocoon on a guest and checks
# its console, log and exit status; it exits 77 where /dev/kvm is missing.
set(VMM_HARNESS ${CMAKE_SOURCE_DIR}/tests/integration/vmm_guest_test.py)
foreach(case vmm_hello vmm_smp vmm_boot_timer vmm_sigterm vmm_reset vmm_console_input
             cli_errors)
  add_test(NAME ${case}
           COMMAND python3 ${VMM_HARNESS} ${case} $<TARGET_FILE:cocoon>
                   ${CMAKE_BINARY_DIR}/tests/guest)
  set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180 LABELS kvm)
endforeach()

# tests/integration/stall_test.py CASE: nothing a guest, a client or the host's limits do may hang,
# spin or abort cocoon (console flood with an unread stdout, FIFO serial file, closed stdio,
# terminating signals, tiny fd / address-space limits). The flood guest is built in vsock.cmake.
set(STALL_HARNESS ${CMAKE_SOURCE_DIR}/tests/integration/stall_test.py)
foreach(case console_flood_unread serial_fifo stdio_closed stop_signals startup_limits
             disk_swapped_for_fifo stop_signal_during_setup)
  add_test(NAME ${case}
           COMMAND python3 ${STALL_HARNESS} ${case} $<TARGET_FILE:cocoon>
                   ${CMAKE_BINARY_DIR}/tests/guest)
  set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180 LABELS kvm)
endforeach()
