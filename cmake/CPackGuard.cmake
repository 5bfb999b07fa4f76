# Read by cpack before it packs: a package is installed on other machines (some with AVX-512, some with only
# AVX2), so it must come from a baseline build; the fast kernels are chosen at run time (core/kernels/cpu_isa.h).
if(CPACK_TSA_NATIVE)
    message(FATAL_ERROR "This build uses -march=native (TSA_NATIVE=ON): configure a separate build with "
                        "-DTSA_NATIVE=OFF to make a package (tools/test_package.sh does).")
endif()
