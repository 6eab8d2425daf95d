# api.cmake: the control API's end-to-end tests (tests/integration/api_test.py, stdlib Python).
#   api_bad_input             hostile requests against a created and a running VM; cocoon lives
#   api_confidential_refusals platform.tdx / sev_snp: each refused request 403 + reason, VM as it was
#   api_kata_replay           Kata's clh driver on the wire (netns + tap, hybrid vsock, hot disk)
# They boot the test guests of vmm.cmake; the replay's agent end is the vsock echo guest
# (tests/guest/vsock_echo.c), so the replay is registered once that guest exists.
set(API_HARNESS ${CMAKE_SOURCE_DIR}/tests/integration/api_test.py)
set(api_cases api_bad_input api_confidential_refusals)
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/guest/vsock_echo.c)
  list(APPEND api_cases api_kata_replay)
else()
  message(STATUS "api_kata_replay not registered: tests/guest/vsock_echo.c (its agent end) is missing")
endif()
foreach(case ${api_cases})
  add_test(NAME ${case}
           COMMAND python3 ${API_HARNESS} ${case} $<TARGET_FILE:cocoon>
                   ${CMAKE_BINARY_DIR}/tests/guest)
  set_tests_properties(${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 240 LABELS "api;integration")
endforeach()
