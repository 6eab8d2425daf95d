# measure.cmake: cocoon-measure's integration tests (known-answer vectors, Debian's OVMF, hostile
# firmware files). None needs KVM; the vector tests skip (77) where ../shared/vectors is absent.
find_package(Python3 COMPONENTS Interpreter)
set(COCOON_VECTORS_DIR ${CMAKE_SOURCE_DIR}/../shared/vectors)

if(Python3_FOUND)
  foreach(kind snp tdx)
    add_test(NAME measure_vectors_${kind}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/scripts/measure_vectors.py
                     $<TARGET_FILE:cocoon-measure> ${COCOON_VECTORS_DIR} ${kind})
    set_tests_properties(measure_vectors_${kind} PROPERTIES SKIP_RETURN_CODE 77 LABELS measure)
  endforeach()
endif()
