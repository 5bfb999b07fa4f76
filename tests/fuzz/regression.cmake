# Included by tests/CMakeLists.txt in every normal (gcc or clang, optionally ASan) build: replays the seed
# corpus and every saved crash under tests/fuzz/regressions/ through each fuzz target's entry point, so a
# fixed parser bug stays fixed without needing libFuzzer. Every input goes through every parser: an input
# that crashed one parser is a good test for the others too.
set(TSA_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
foreach(name safetensors npy npz capture effect)
    add_executable(fuzz_replay_${name} ${TSA_FUZZ_DIR}/replay_main.cpp ${TSA_FUZZ_DIR}/fuzz_${name}.cpp)
    target_link_libraries(fuzz_replay_${name} PRIVATE tsa_core)
    add_test(NAME fuzz_regression_${name}
             COMMAND fuzz_replay_${name} ${TSA_FUZZ_DIR}/seeds ${TSA_FUZZ_DIR}/regressions)
    set_tests_properties(fuzz_regression_${name} PROPERTIES LABELS "core;fuzz" TIMEOUT 300)
endforeach()
