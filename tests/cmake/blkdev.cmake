# blkdev.cmake: virtio-blk test guest and its KVM integration tests (tests/integration/blknet.py).
#   blk_rw_verify         reads of known sectors, write + flush + read-back, get-id, read-only
#                         disk -> IOERR with the file unchanged, reads past the end -> IOERR
#   blk_flush_durability  SIGKILL right after a flush completed: the data is in the file
#   blk_hostile           hostile chains: NEEDS_RESET on that disk only, the other disk and
#                         cocoon keep working, a reset recovers the disk
#   blk_multiqueue        4 queues of 64 set through vm.create (as Kata does): config space, queue
#                         sizes and I/O on every queue
#   blk_hotplug           vm.add-disk into a running guest (it finds the function, reads it), then
#                         vm.remove-device (the function disappears from the bus)
#   blk_direct            blk_rw_verify with direct=on (O_DIRECT) disks
#   blk_image_conflicts   the same image twice in one VM: refused, named as such
# The guests need cocoon_add_guest (vmm.cmake), so they are defined once every area file is in.
function(cocoon_blkdev_tests)
  cocoon_add_guest(guest_blk ${COCOON_GUEST_DIR}/blk_guest.c ${COCOON_GUEST_DIR}/rt/virtio.c)
  foreach(case blk_rw_verify blk_flush_durability blk_hostile blk_multiqueue blk_hotplug blk_direct
               blk_image_conflicts)
    add_test(NAME ${case}
             COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/blknet.py ${case}
                     $<TARGET_FILE:cocoon> ${CMAKE_BINARY_DIR}/tests/guest)
    set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS kvm)
  endforeach()
endfunction()
cmake_language(DEFER CALL cocoon_blkdev_tests)
