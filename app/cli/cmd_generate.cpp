// `tsa generate`: not written yet.
#include "app/cli/cli_args.h"

#include <cstdio>

namespace tsa::cli {

int cmdGenerate(const std::vector<std::string>&) {
    std::fputs("tsa generate: not implemented yet\n", stderr);
    return kExitFailure;
}

} // namespace tsa::cli
