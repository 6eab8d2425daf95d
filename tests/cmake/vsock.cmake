# vsock.cmake: virtio-vsock / virtio-pci test guests and their KVM integration tests.

foreach(g vsock_echo virtio_hostile)
  cocoon_add_guest(guest_${g} ${COCOON_GUEST_DIR}/${g}.c ${COCOON_GUEST_DIR}/rt/virtio.c)
endforeach()

# tests/integration/vsock_test.py CASE runs cocoon with --vsock on a test guest, drives the
# hybrid-vsock socket like Kata does and checks bytes, console and stderr; 77 without /dev/kvm.
set(VSOCK_HARNESS ${CMAKE_SOURCE_DIR}/tests/integration/vsock_test.py)
foreach(case vsock_echo vsock_guest_connect vsock_no_listener virtio_hostile vsock_conn_cap)
  add_test(NAME ${case}
           COMMAND python3 ${VSOCK_HARNESS} ${case} $<TARGET_FILE:cocoon>
                   ${CMAKE_BINARY_DIR}/tests/guest)
  set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 240 LABELS kvm)
endforeach()
