# seccomp.cmake: KVM integration tests of the per-thread seccomp filters (tests/integration/
# seccomp_test.py): seccomp_filters (each thread type's filter refuses as configured, /proc view,
# list sizes) and seccomp_guest_run (the vsock, blk and net harnesses pass under --seccomp true).
# The guests come from vmm.cmake, vsock.cmake, blkdev.cmake and netdev.cmake.
foreach(case seccomp_filters seccomp_guest_run)
  add_test(NAME ${case}
           COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/seccomp_test.py ${case}
                   $<TARGET_FILE:cocoon> ${CMAKE_BINARY_DIR}/tests/guest)
  set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS kvm)
endforeach()
set_tests_properties(seccomp_guest_run PROPERTIES RUN_SERIAL TRUE)
