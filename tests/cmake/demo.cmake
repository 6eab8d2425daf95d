# demo.cmake: the README demo (tools/demo.sh): its guest and the test that keeps the demo true.
#   demo_script  runs tools/demo.sh against this build (DEMO_BUILD_DIR: no apt, no build) and
#                checks its key lines: measurements, PCI listing, disk read/write seen from the
#                host, UDP reply (when root can make a netns + tap), vsock echo, exit status 0
# cocoon_add_guest comes from vmm.cmake, included after this file, hence the deferred call.
function(cocoon_demo_tests)
  cocoon_add_guest(guest_demo ${COCOON_GUEST_DIR}/demo.c ${COCOON_GUEST_DIR}/rt/virtio.c
                   ${COCOON_GUEST_DIR}/rt/vsock.c)
  add_test(NAME demo_script
           COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/demo_script_test.py
                   ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(demo_script PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 240 LABELS kvm
                       RUN_SERIAL TRUE)
endfunction()
cmake_language(DEFER CALL cocoon_demo_tests)
