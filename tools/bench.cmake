# bench.cmake: the benchmark harnesses of tools/bench (run by tools/bench.sh). Not built by default
# (EXCLUDE_FROM_ALL): they report numbers, they are never part of a build or test verdict. Unlike
# cocoon-measure they link the VMM libraries, since they drive its device path and VM lifecycle.
set(BENCH_DIR ${CMAKE_CURRENT_SOURCE_DIR}/bench)

add_executable(bench_blk_path EXCLUDE_FROM_ALL ${BENCH_DIR}/blk_path.c
               ${CMAKE_SOURCE_DIR}/tests/unit/support/vring_sim.c)
target_include_directories(bench_blk_path PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(bench_blk_path PRIVATE cocoon_devices)

add_executable(bench_net_path EXCLUDE_FROM_ALL ${BENCH_DIR}/net_path.c
               ${CMAKE_SOURCE_DIR}/tests/unit/support/vring_sim.c)
target_include_directories(bench_net_path PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(bench_net_path PRIVATE cocoon_devices)

add_executable(bench_vm_create EXCLUDE_FROM_ALL ${BENCH_DIR}/vm_create.c)
target_link_libraries(bench_vm_create PRIVATE cocoon_vmm)

add_executable(bench_stream EXCLUDE_FROM_ALL ${BENCH_DIR}/stream.c)

add_executable(bench_kvm_floor EXCLUDE_FROM_ALL ${BENCH_DIR}/kvm_floor.c)
# bare KVM, none of cocoon linked: only the shared bench clock header
target_include_directories(bench_kvm_floor PRIVATE ${CMAKE_SOURCE_DIR})

foreach(t bench_blk_path bench_net_path bench_vm_create bench_stream bench_kvm_floor)
  target_compile_options(${t} PRIVATE ${COCOON_HOST_CFLAGS})
  set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endforeach()
