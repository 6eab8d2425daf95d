# tee.cmake: the TEE launch simulations compare against the built cocoon-measure binary.
foreach(t tee_snp_launch_sim tee_tdx_launch_sim tee_vm_pipeline)
  if(TARGET unit_${t} AND TARGET cocoon-measure)
    add_dependencies(unit_${t} cocoon-measure)
  endif()
endforeach()
if(TARGET unit_tee_host_refusal AND TARGET cocoon)
  add_dependencies(unit_tee_host_refusal cocoon)
endif()

# msi_fire_concurrent_tsan: the MSI route race test built with ThreadSanitizer (its own objects,
# so the rest of the tree keeps its flags); any data race fails it. Not in sanitizer/fuzz builds,
# whose global ASan link option cannot be mixed with TSan.
if(CMOCKA_FOUND AND NOT COCOON_SANITIZE AND NOT COCOON_FUZZ)
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS -fsanitize=thread)
  set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=thread)
  check_c_source_compiles("int main(void) { return 0; }" COCOON_HAVE_TSAN)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(COCOON_HAVE_TSAN)
    add_executable(unit_msi_fire_concurrent_tsan
                   ${CMAKE_SOURCE_DIR}/tests/unit/msi_fire_concurrent.c
                   ${CMAKE_SOURCE_DIR}/vmm/msi.c ${CMAKE_SOURCE_DIR}/devices/ioapic.c
                   ${CMAKE_SOURCE_DIR}/vmm/base/log.c
                   ${CMAKE_SOURCE_DIR}/tests/unit/support/test_env.c)
    target_include_directories(unit_msi_fire_concurrent_tsan PRIVATE ${CMAKE_SOURCE_DIR}
                               ${CMAKE_SOURCE_DIR}/tests/unit ${CMAKE_BINARY_DIR})
    target_compile_options(unit_msi_fire_concurrent_tsan PRIVATE -fsanitize=thread -g -O1
                           -D_GNU_SOURCE)
    target_link_options(unit_msi_fire_concurrent_tsan PRIVATE -fsanitize=thread)
    target_link_libraries(unit_msi_fire_concurrent_tsan PRIVATE PkgConfig::CMOCKA Threads::Threads)
    add_test(NAME msi_fire_concurrent_tsan COMMAND unit_msi_fire_concurrent_tsan)
    set_tests_properties(msi_fire_concurrent_tsan PROPERTIES
                         ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1:exitcode=66" LABELS unit)
  endif()
endif()
