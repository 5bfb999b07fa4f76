# cmake --install: binaries to bin/, the bundled data (samples, example session, presets, their README with
# licences) to share/tsa-explorer/, the desktop entry, icons and MIME types to their freedesktop places.
# CPack then makes a .deb of exactly that (cpack -G DEB from the build directory).
include(GNUInstallDirs)
set(TSA_INSTALL_DATADIR ${CMAKE_INSTALL_DATADIR}/tsa-explorer)

# The programs find their data relative to their own location (app/common/data_dirs.cpp), so the path
# from bin/ to share/tsa-explorer/ is compiled in, not an absolute prefix: a relocated tree works too.
file(RELATIVE_PATH TSA_DATA_RELATIVE ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_DATADIR}/tsa-explorer)
set_source_files_properties(${PROJECT_SOURCE_DIR}/app/common/data_dirs.cpp TARGET_DIRECTORY tsa_app_common
    PROPERTIES COMPILE_DEFINITIONS "TSA_DATA_RELATIVE=\"${TSA_DATA_RELATIVE}\"")

install(TARGETS tsa tsa-explorer RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES
    ${PROJECT_SOURCE_DIR}/sample_data/sample.safetensors
    ${PROJECT_SOURCE_DIR}/sample_data/README.md
    DESTINATION ${TSA_INSTALL_DATADIR})
foreach(optional stories260k.safetensors stories260k.session.json stories260k_effect.safetensors)
    if(EXISTS ${PROJECT_SOURCE_DIR}/sample_data/${optional})
        install(FILES ${PROJECT_SOURCE_DIR}/sample_data/${optional} DESTINATION ${TSA_INSTALL_DATADIR})
    endif()
endforeach()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sample_data/presets/ DESTINATION ${TSA_INSTALL_DATADIR}/presets
    FILES_MATCHING PATTERN "*.json")

install(FILES ${PROJECT_SOURCE_DIR}/resources/linux/tsa-explorer.desktop
    DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${PROJECT_SOURCE_DIR}/resources/linux/tsa-explorer-mime.xml
    DESTINATION ${CMAKE_INSTALL_DATADIR}/mime/packages RENAME tsa-explorer.xml)
install(FILES ${PROJECT_SOURCE_DIR}/resources/icons/tsa-explorer.svg
    DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
foreach(size 16 32 48 64 128 256)
    install(FILES ${PROJECT_SOURCE_DIR}/resources/icons/tsa-explorer-${size}.png
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/${size}x${size}/apps RENAME tsa-explorer.png)
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/resources/linux/copyright DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/tsa-explorer)

# --- CPack: a Debian package whose dependencies come from the binaries (dpkg-shlibdeps: Qt 6, OpenBLAS,
# libgomp, libzip) plus what is loaded at run time rather than linked.
set(CPACK_PACKAGE_NAME tsa-explorer)
set(CPACK_PACKAGE_VENDOR "TSA Explorer")
set(CPACK_PACKAGE_CONTACT "TSA Explorer maintainers <tsa-explorer@users.noreply.github.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Explore Token Sparse Attention on captured or synthetic Q/K/V")
set(CPACK_PACKAGE_DESCRIPTION "TSA Explorer shows how Token Sparse Attention (Jo et al., arXiv 2602.03216)
 scores, selects and drops tokens, layer by layer and head by head, on Q/K/V captures from a model
 (safetensors or npz) or from the built-in generator. A Qt 6 window (tsa-explorer) and a command
 line (tsa) with PNG, SVG, PDF and CSV export; a synthetic sample and a real tiny model (stories260K)
 are included.")
set(CPACK_PACKAGE_INSTALL_DIRECTORY tsa-explorer)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Not visible to dpkg-shlibdeps: the views draw with DejaVu Sans, and the MIME types and desktop entry are
# registered by shared-mime-info and desktop-file-utils triggers.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fonts-dejavu-core")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "shared-mime-info, desktop-file-utils, hicolor-icon-theme")
# The Python module (python/CMakeLists.txt installs it to lib/python3/dist-packages) imports numpy.
if(TARGET tsa_explorer)
    string(APPEND CPACK_DEBIAN_PACKAGE_RECOMMENDS ", python3-numpy")
endif()
# A package runs on machines other than the one that built it: refuse a -march=native build.
set(CPACK_TSA_NATIVE ${TSA_NATIVE})
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/cmake/CPackGuard.cmake)
include(CPack)
