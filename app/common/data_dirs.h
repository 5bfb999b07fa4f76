// Where the bundled data lives (samples, example sessions, generator presets), one rule for the command
// line, the window (app/explorer/data_paths.h wraps it) and the tests, without Qt so `tsa` builds without
// the GUI. An installed program looks next to its executable first (<bindir>/TSA_DATA_RELATIVE, i.e.
// ../share/tsa-explorer with GNUInstallDirs, so a relocated install works too); a development build falls
// back to the source tree's sample_data/ (TSA_SAMPLE_DIR).
#pragma once

#include <string>
#include <vector>

namespace tsa::data {

// The directories searched, installed location first.
std::vector<std::string> candidates();
// The first candidate that holds the synthetic sample (canonical path); empty when there is none.
std::string directory();
// A file of directory() ("sample.safetensors", "presets"), or empty when there is no data directory.
std::string file(const std::string& name);

} // namespace tsa::data
