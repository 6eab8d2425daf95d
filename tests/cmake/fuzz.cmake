# fuzz.cmake: libFuzzer targets (tests/fuzz/<target>.c), built only with -DCOCOON_FUZZ=ON and clang.
# Every library is then compiled with -fsanitize=fuzzer-no-link,address,undefined (top-level
# CMakeLists.txt); each target links libFuzzer's main. Run them with tools/fuzz.sh.
if(COCOON_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "COCOON_FUZZ needs clang: cmake -DCMAKE_C_COMPILER=clang -DCOCOON_FUZZ=ON")
  endif()
  file(GLOB fuzz_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/*.c)
  set(fuzz_targets)
  foreach(src ${fuzz_srcs})
    get_filename_component(name ${src} NAME_WE)
    add_executable(fuzz_${name} ${src})
    target_compile_options(fuzz_${name} PRIVATE ${COCOON_HOST_CFLAGS})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${name} PRIVATE cocoon_api cocoon_vmm)
    if(name MATCHES "^attest_") # report / quote parsers of cocoon-measure verify
      target_link_libraries(fuzz_${name} PRIVATE cocoon_attest_parse)
    endif()
    list(APPEND fuzz_targets fuzz_${name})
    # Replaying the seed corpus (and any regression inputs) is a test of its own.
    add_test(NAME fuzz_replay_${name}
             COMMAND fuzz_${name} -runs=0 ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
    set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz)
  endforeach()
  add_custom_target(fuzz DEPENDS ${fuzz_targets})
endif()
