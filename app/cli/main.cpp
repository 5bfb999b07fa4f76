// `tsa`: the command line of TSA Explorer. Each subcommand lives in its own cmd_*.cpp.
#include "app/cli/cli_args.h"

#include <cstdio>
#include <string>
#include <vector>

namespace {

void printUsage(std::FILE* out) {
    std::fputs("usage: tsa <command> [options]\n"
               "\n"
               "commands:\n"
               "  info FILE [--json]            describe a Q/K/V capture or an effect file\n"
               "  generate --out FILE [...]     write a synthetic capture (see tsa generate --help)\n"
               "  run FILE [...]                run Token Sparse Attention on a capture (tsa run --help)\n"
               "  compare FILE [...]            sparse-attention methods side by side (tsa compare --help)\n"
               "  export FILE --view NAME --out PATH [...]   render a view to PNG or SVG without a window\n"
               "\n"
               "Exit codes: 0 success, 1 the operation failed, 2 bad file or bad option.\n",
               out);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        printUsage(stderr);
        return tsa::cli::kExitUsage;
    }
    const std::string command = argv[1];
    const std::vector<std::string> rest(argv + 2, argv + argc);
    if (command == "info") return tsa::cli::cmdInfo(rest);
    if (command == "generate") return tsa::cli::cmdGenerate(rest);
    if (command == "run") return tsa::cli::cmdRun(rest);
    if (command == "compare") return tsa::cli::cmdCompare(rest);
    if (command == "export") return tsa::cli::cmdExport(rest);
    if (command == "--help" || command == "-h" || command == "help") {
        printUsage(stdout);
        return tsa::cli::kExitOk;
    }
    std::fprintf(stderr, "tsa: unknown command '%s'\n", command.c_str());
    printUsage(stderr);
    return tsa::cli::kExitUsage;
}
