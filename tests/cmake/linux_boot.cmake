# linux_boot.cmake: real-Linux loader tests: the Debian kernel fetch fixture and the boot proofs.

# Test set-up: fetch Debian's linux-image-cloud-amd64 (apt-get download, no install) into a cache
# outside the build tree and point ${CMAKE_BINARY_DIR}/debian-kernel/{bzImage,vmlinux} at it.
# Exits 77 (skipped) without network and without a cached kernel; the tests that need the
# kernel then skip themselves with a message.
add_test(NAME debian_kernel_fetch
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/scripts/fetch-debian-kernel.sh
                 ${CMAKE_BINARY_DIR}/debian-kernel)
set_tests_properties(debian_kernel_fetch PROPERTIES
  FIXTURES_SETUP debian_kernel SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS setup)

foreach(t loader_bzimage loader_pvh boot_params)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED debian_kernel)
  endif()
endforeach()
