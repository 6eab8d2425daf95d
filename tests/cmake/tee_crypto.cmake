# tee_crypto.cmake: tee_crypto_lazy_load (tests/integration/tee_crypto_lazy_test.py): cocoon does
# not link libcrypto, and a plain-KVM VM never maps it (tee/crypto.h loads it
# on the first digest). The idle guest comes from bench.cmake.
add_test(NAME tee_crypto_lazy_load
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/tee_crypto_lazy_test.py
                 $<TARGET_FILE:cocoon> $<TARGET_FILE:cocoon-measure>
                 ${CMAKE_BINARY_DIR}/tests/guest/guest_idle.elf)
set_tests_properties(tee_crypto_lazy_load PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS kvm)
