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

# Boot proofs under real KVM (skip 77 without /dev/kvm or the kernel). The bzImage through the
# 64-bit boot protocol must reach its decompressor's "KASLR disabled" line (entry, boot_params
# and command line are right); the extracted vmlinux through PVH must print "Linux version" with
# no unhandled exit logged before it. Ring-0 code is emulated on the CI hosts, so a full boot is
# not asked for here.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  set(linux_boot_py ${CMAKE_SOURCE_DIR}/tests/integration/linux_boot.py)
  set(linux_boot_cmdline "console=ttyS0 earlyprintk=serial nokaslr")
  add_test(NAME linux_bzimage_boot
           COMMAND ${Python3_EXECUTABLE} ${linux_boot_py} --name linux_bzimage_boot
                   --cocoon $<TARGET_FILE:cocoon> --kernel ${CMAKE_BINARY_DIR}/debian-kernel/bzImage
                   --cmdline ${linux_boot_cmdline} --expect "KASLR disabled" --timeout 120)
  add_test(NAME linux_pvh_boot
           COMMAND ${Python3_EXECUTABLE} ${linux_boot_py} --name linux_pvh_boot
                   --cocoon $<TARGET_FILE:cocoon> --kernel ${CMAKE_BINARY_DIR}/debian-kernel/vmlinux
                   --cmdline ${linux_boot_cmdline} --expect "Linux version" --timeout 120)
  set_tests_properties(linux_bzimage_boot linux_pvh_boot PROPERTIES
    FIXTURES_REQUIRED debian_kernel SKIP_RETURN_CODE 77 TIMEOUT 180 LABELS "integration;linux")
endif()
