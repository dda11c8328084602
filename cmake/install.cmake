include(CMakePackageConfigHelpers)
install(TARGETS brains brains_cli EXPORT brainsTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/brains DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/brains/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/brains)
install(EXPORT brainsTargets NAMESPACE brains:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/brains)
configure_package_config_file(cmake/brainsConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/brainsConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/brains)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/brainsConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/brainsConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/brainsConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/brains)
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/brains/examples)
