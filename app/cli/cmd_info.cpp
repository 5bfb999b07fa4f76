// `tsa info`: not written yet.
#include "app/cli/cli_args.h"

#include <cstdio>

namespace tsa::cli {

int cmdInfo(const std::vector<std::string>&) {
    std::fputs("tsa info: not implemented yet\n", stderr);
    return kExitFailure;
}

} // namespace tsa::cli
