# measure.cmake: cocoon-measure, linked only against firmware parsing and the tee/ digest code
# (no KVM, no VMM), so it runs on any machine. The same sources also join cocoon_firmware and
# cocoon_tee, which the VMM's launch uses: one implementation of every digest step.
set(COCOON_MEASURE_CORE_SRCS
    ${CMAKE_SOURCE_DIR}/firmware/ovmf.c
    ${CMAKE_SOURCE_DIR}/tee/launch_plan.c
    ${CMAKE_SOURCE_DIR}/tee/vmsa.c
    ${CMAKE_SOURCE_DIR}/tee/sev_hashes.c
    ${CMAKE_SOURCE_DIR}/tee/snp_digest.c
    ${CMAKE_SOURCE_DIR}/tee/tdx_digest.c
    ${CMAKE_SOURCE_DIR}/tee/crypto.c)
add_library(cocoon_measure_core STATIC ${COCOON_MEASURE_CORE_SRCS})
target_compile_options(cocoon_measure_core PRIVATE ${COCOON_HOST_CFLAGS})
target_include_directories(cocoon_measure_core PUBLIC ${CMAKE_SOURCE_DIR}
                           ${CMAKE_BINARY_DIR}/generated)
# libcrypto is loaded on first use by tee/crypto.c, as in the VMM (one loader, no link).
target_link_libraries(cocoon_measure_core PUBLIC cocoon_crypto_headers)

add_executable(cocoon-measure ${CMAKE_CURRENT_SOURCE_DIR}/cocoon_measure.c
                              ${CMAKE_CURRENT_SOURCE_DIR}/cocoon_measure_help.c)
target_compile_options(cocoon-measure PRIVATE ${COCOON_HOST_CFLAGS})
target_link_libraries(cocoon-measure PRIVATE cocoon_measure_core)
set_target_properties(cocoon-measure PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
