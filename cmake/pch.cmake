# Executables reuse the library's precompiled header. GCC accepts a PCH only when the
# code-generation flags and the predefined macros match, so executables compile with the
# library's -fPIC and its macros (spdlog's and the shared-library export macro).
function(brains_reuse_pch target)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(${target} PRIVATE -fPIC)
  target_link_libraries(${target} PRIVATE spdlog::spdlog)
  target_compile_definitions(${target} PRIVATE brains_EXPORTS)
  target_precompile_headers(${target} REUSE_FROM brains)
endfunction()
