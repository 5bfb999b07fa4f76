// `tsa run`: not written yet.
#include "app/cli/cli_args.h"

#include <cstdio>

namespace tsa::cli {

int cmdRun(const std::vector<std::string>&) {
    std::fputs("tsa run: not implemented yet\n", stderr);
    return kExitFailure;
}

} // namespace tsa::cli
