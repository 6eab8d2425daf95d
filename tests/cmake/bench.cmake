# bench.cmake: the test guest the benchmarks (tools/bench) need besides hello and vsock_echo.
#   guest_idle  prints "idle guest ready" and halts forever: resident memory of a live VM
# cocoon_add_guest comes from vmm.cmake, included after this file, hence the deferred call.
function(cocoon_bench_guests)
  cocoon_add_guest(guest_idle ${COCOON_GUEST_DIR}/idle.c)
endfunction()
cmake_language(DEFER CALL cocoon_bench_guests)
