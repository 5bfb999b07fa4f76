// `tsa export`: not written yet.
#include "app/cli/cli_args.h"

#include <cstdio>

namespace tsa::cli {

int cmdExport(const std::vector<std::string>&) {
    std::fputs("tsa export: not implemented yet\n", stderr);
    return kExitFailure;
}

} // namespace tsa::cli
