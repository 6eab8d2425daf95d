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
