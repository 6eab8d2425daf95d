# vcpu_hotplug.cmake: vCPU hot-plug through vm.resize and the ACPI CPU manager (labels acpi, kvm).
#   vcpu_hotplug_resize_guest  boot=1,max=2 over the API: resize to 2 (the guest sees "inserting"
#                              in the CPU hot-plug registers, starts vCPU 1 with INIT/SIPI, it
#                              prints), resize to 1 ("removing"; 429 while the guest has not
#                              ejected; the eject parks the vCPU), resize to 2 again (the parked
#                              vCPU is reused), pause/resume, vm.info, shutdown + boot with 2
# The unit side (owner rules, VM side on a simulated KVM) is tests/unit/vcpu_hotplug_*.c.
# Deferred: cocoon_add_guest is defined by vmm.cmake, included after this file.
function(cocoon_vcpu_hotplug_tests)
  cocoon_add_guest(guest_cpu_hotplug ${CMAKE_SOURCE_DIR}/tests/guest/cpu_hotplug.c)
  target_include_directories(guest_cpu_hotplug PRIVATE ${CMAKE_SOURCE_DIR}) # vmm/base/acpi_regs.h
  add_test(NAME vcpu_hotplug_resize_guest
           COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/vcpu_hotplug_test.py
                   $<TARGET_FILE:cocoon> ${CMAKE_BINARY_DIR}/tests/guest/guest_cpu_hotplug.elf)
  set_tests_properties(vcpu_hotplug_resize_guest PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       LABELS "acpi;kvm;integration")
endfunction()
cmake_language(DEFER CALL cocoon_vcpu_hotplug_tests)
