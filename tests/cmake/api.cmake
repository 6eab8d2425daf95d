# api.cmake: the control API's end-to-end tests (tests/integration/api_test.py, stdlib Python).
#   api_bad_input             hostile requests against a created and a running VM; cocoon lives
#   api_confidential_refusals platform.tdx / sev_snp: each refused request 403 + reason, VM as it was
#   api_kata_replay           Kata's clh driver on the wire (netns + tap, hybrid vsock to the
#                             vsock_echo guest of vsock.cmake, disk hot-add, vmm.shutdown)
#   api_kata_driver_shapes    every vm.create shape of Kata's Go and Rust drivers and the answers
#                             they rely on (features, vm.info shape, no-op resize, refusals)
#   api_kata_rs_connection    the Rust runtime's sandbox on one persistent connection (ping,
#                             pretty-printed vm.create, vm.add-net with the tap fd, boot, vm.info)
#   api_hostile_clients       a client pipelining vm.info of a ~110 KiB configuration without
#                             reading (RSS bounded, others answered, it is closed); out of fds
#                             under RLIMIT_NOFILE 64 (no spin, one log line, serves again);
#                             9 threads x 300 connect/ping/close never meet 503
#   api_reboot_keeps_hotplug  disks hot-added / hot-removed on a running VM: vm.shutdown + vm.boot
#                             builds a machine with the added one, not the removed one
#   api_idle_connection_kept_70s  runtime-rs's one persistent connection: 70 s idle (past the
#                             old 60 s idle timeout), then vm.info and vmm.shutdown on it
# They boot the test guests built by vmm.cmake and vsock.cmake.
set(API_HARNESS ${CMAKE_SOURCE_DIR}/tests/integration/api_test.py)
foreach(case api_bad_input api_confidential_refusals api_kata_replay api_hostile_clients
             api_kata_driver_shapes api_kata_rs_connection api_reboot_keeps_hotplug)
  add_test(NAME ${case}
           COMMAND python3 ${API_HARNESS} ${case} $<TARGET_FILE:cocoon>
                   ${CMAKE_BINARY_DIR}/tests/guest)
  set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 240 LABELS "api;integration")
endforeach()
add_test(NAME api_idle_connection_kept_70s
         COMMAND python3 ${API_HARNESS} api_idle_connection_kept_70s $<TARGET_FILE:cocoon>
                 ${CMAKE_BINARY_DIR}/tests/guest)
set_tests_properties(api_idle_connection_kept_70s PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 150
                     LABELS "api;integration;slow")
