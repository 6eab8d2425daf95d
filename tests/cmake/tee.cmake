# tee.cmake: the TEE launch simulations compare against the built cocoon-measure binary.
foreach(t tee_snp_launch_sim tee_tdx_launch_sim tee_vm_pipeline)
  if(TARGET unit_${t} AND TARGET cocoon-measure)
    add_dependencies(unit_${t} cocoon-measure)
  endif()
endforeach()
if(TARGET unit_tee_host_refusal AND TARGET cocoon)
  add_dependencies(unit_tee_host_refusal cocoon)
endif()
