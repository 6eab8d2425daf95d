# vsock.cmake: virtio-vsock / virtio-pci test guests and their KVM integration tests.

cocoon_add_guest(guest_vsock_echo ${COCOON_GUEST_DIR}/vsock_echo.c ${COCOON_GUEST_DIR}/rt/virtio.c
                 ${COCOON_GUEST_DIR}/rt/vsock.c)
cocoon_add_guest(guest_console_flood ${COCOON_GUEST_DIR}/console_flood.c
                 ${COCOON_GUEST_DIR}/rt/virtio.c ${COCOON_GUEST_DIR}/rt/vsock.c)
cocoon_add_guest(guest_virtio_hostile ${COCOON_GUEST_DIR}/virtio_hostile.c
                 ${COCOON_GUEST_DIR}/rt/virtio.c)

# tests/integration/vsock_test.py CASE runs cocoon with --vsock on a test guest, drives the
# hybrid-vsock socket like Kata does and checks bytes, console and stderr; 77 without /dev/kvm.
set(VSOCK_HARNESS ${CMAKE_SOURCE_DIR}/tests/integration/vsock_test.py)
foreach(case vsock_echo vsock_guest_connect vsock_no_listener virtio_hostile vsock_conn_cap)
  add_test(NAME ${case}
           COMMAND python3 ${VSOCK_HARNESS} ${case} $<TARGET_FILE:cocoon>
                   ${CMAKE_BINARY_DIR}/tests/guest)
  set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 240 LABELS kvm)
endforeach()
