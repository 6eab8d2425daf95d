# kata.cmake: the shipped Kata configuration (tools/kata) and how it is installed.
#   kata_config_install   `cmake --install` into a scratch prefix puts cocoon, cocoon-measure and
#                         the three configurations where README says; every configuration parses,
#                         names the installed binary and sets what cocoon needs (shared_fs none,
#                         static sizing, seccomp on, no VFIO/IOMMU/balloon); the SNP patch applies
add_test(NAME kata_config_install
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/scripts/kata_config_test.py ${CMAKE_BINARY_DIR}
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(kata_config_install PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS kata)
