// `tsa export` in a build without the GUI (TSA_BUILD_GUI=OFF): the views it renders are Qt widgets, so the
// command is absent; it says so and exits 2 rather than being an unknown command.
#include "app/cli/cli_args.h"

#include <cstdio>

namespace tsa::cli {

int cmdExport(const std::vector<std::string>&) {
    std::fputs("tsa export: this tsa was built without the GUI (TSA_BUILD_GUI=OFF), and export renders the\n"
               "explorer's views; use a build with the GUI, or tsa-explorer --screenshot\n",
               stderr);
    return kExitUsage;
}

} // namespace tsa::cli
