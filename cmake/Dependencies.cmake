# Every dependency comes from a Debian 12 package installed by scripts/install-deps.sh.
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS system)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tl-expected REQUIRED)
find_package(CURL REQUIRED)
find_package(PkgConfig REQUIRED)

pkg_check_modules(PV_AUDIO REQUIRED IMPORTED_TARGET opus ogg speexdsp soxr)
pkg_check_modules(PV_WEBRTC REQUIRED IMPORTED_TARGET webrtc-audio-processing)
pkg_check_modules(PV_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# Debian's sphinxbase.pc names a non-existent include dir, which breaks IMPORTED_TARGET:
# use the plain variables instead.
pkg_check_modules(PV_SPHINX REQUIRED pocketsphinx sphinxbase)
add_library(pv_sphinx INTERFACE)
target_include_directories(pv_sphinx SYSTEM INTERFACE /usr/include/x86_64-linux-gnu/sphinxbase
                           /usr/include/pocketsphinx /usr/include/x86_64-linux-gnu)
target_link_libraries(pv_sphinx INTERFACE ${PV_SPHINX_LIBRARIES})
execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=modeldir pocketsphinx
                OUTPUT_VARIABLE PV_POCKETSPHINX_MODELDIR OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT PV_POCKETSPHINX_MODELDIR OR NOT EXISTS "${PV_POCKETSPHINX_MODELDIR}/en-us/en-us")
  set(PV_POCKETSPHINX_MODELDIR /usr/share/pocketsphinx/model)
endif()

# flite ships no pkg-config file and no header for its voices.
find_library(FLITE_LIB flite REQUIRED)
find_library(FLITE_KAL16_LIB flite_cmu_us_kal16 REQUIRED)
find_library(FLITE_SLT_LIB flite_cmu_us_slt REQUIRED)
find_library(FLITE_USENGLISH_LIB flite_usenglish REQUIRED)
find_library(FLITE_CMULEX_LIB flite_cmulex REQUIRED)
add_library(pv_flite INTERFACE)
target_link_libraries(pv_flite INTERFACE ${FLITE_KAL16_LIB} ${FLITE_SLT_LIB} ${FLITE_USENGLISH_LIB} ${FLITE_CMULEX_LIB}
                      ${FLITE_LIB} m)

find_package(GTest)
find_package(benchmark)
