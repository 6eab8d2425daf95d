# netdev.cmake: virtio-net test guest and its KVM integration tests (tests/integration/blknet.py).
#   net_tap_exchange  a tap in a private network namespace: ARP answered by the host kernel, 1000
#                     UDP datagrams each way intact and in order, oversized frames dropped both ways
#   net_hostile       (tap handed over as --net fd=N) hostile rx/tx chains: NEEDS_RESET on the
#                     net device only, a virtio-blk bystander keeps working, a reset device
#                     exchanges frames again
# Both need root (ip netns, tap); they clean the namespace up and exit 77 where they cannot run.
function(cocoon_netdev_tests)
  cocoon_add_guest(guest_net ${COCOON_GUEST_DIR}/net_guest.c ${COCOON_GUEST_DIR}/rt/virtio.c)
  foreach(case net_tap_exchange net_hostile)
    add_test(NAME ${case}
             COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/blknet.py ${case}
                     $<TARGET_FILE:cocoon> ${CMAKE_BINARY_DIR}/tests/guest)
    set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS kvm
                         RUN_SERIAL TRUE)
  endforeach()
endfunction()
cmake_language(DEFER CALL cocoon_netdev_tests)
