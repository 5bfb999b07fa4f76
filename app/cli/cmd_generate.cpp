// `tsa generate`: writes a synthetic Q/K/V capture (core/synth/generator.h) from a preset, layer by layer,
// with progress on stderr.
#include "app/cli/cli_args.h"
#include "app/common/data_dirs.h"
#include "core/synth/generator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#ifndef TSA_SAMPLE_DIR
#define TSA_SAMPLE_DIR "sample_data"
#endif

namespace tsa::cli {

namespace {

void printHelp(std::FILE* out) {
    std::fputs(
        "usage: tsa generate --out FILE [options]\n"
        "\n"
        "Writes a synthetic post-RoPE Q/K/V capture (safetensors, BF16) that behaves like a real model:\n"
        "attention sinks, local, retrieval, heavy-hitter and diffuse heads, GQA, per-token drift.\n"
        "The same options and seed always give the same bytes.\n"
        "\n"
        "options:\n"
        "  --out FILE          output path (written atomically)\n"
        "  --preset NAME|FILE  a bundled preset's name (--list-presets) or a JSON file; default: default\n"
        "  --seed S            random seed (unsigned 64-bit); default: the preset's\n"
        "  --layers N          number of layers\n"
        "  --heads H           query heads\n"
        "  --kv-heads H        key/value heads (must divide --heads)\n"
        "  --tokens L          sequence length\n"
        "  --head-dim D        head dimension (even, >= 8)\n"
        "  --dtype T           bf16 (default), f16 or f32\n"
        "  --threads N         worker threads (output does not depend on it)\n"
        "  --list-presets      list the bundled presets and exit\n"
        "  --print-config      print the effective configuration as JSON and exit\n"
        "  --quiet             no progress on stderr\n"
        "  --help              this text\n"
        "\n"
        "Every preset knob is documented in docs/generator.md.\n"
        "Example: tsa generate --preset retrieval --tokens 16384 --layers 16 --out retrieval.safetensors\n",
        out);
}

std::string presetDir() {
    const std::string dir = tsa::data::file("presets");
    return dir.empty() ? std::string(TSA_SAMPLE_DIR) + "/presets" : dir;
}

// NAME looks in the presets dir; anything with a slash or a .json suffix is a path.
std::string resolvePreset(const std::string& arg) {
    if (arg.find('/') != std::string::npos || (arg.size() > 5 && arg.substr(arg.size() - 5) == ".json"))
        return arg;
    return presetDir() + "/" + arg + ".json";
}

int usage(const std::string& message) {
    std::fprintf(stderr, "tsa generate: %s\n(see tsa generate --help)\n", message.c_str());
    return kExitUsage;
}

} // namespace

int cmdGenerate(const std::vector<std::string>& argv) {
    Args args(
        {"out", "preset", "seed", "layers", "heads", "kv-heads", "tokens", "head-dim", "dtype", "threads"},
        {"help", "list-presets", "print-config", "quiet"});
    if (!args.parse(argv)) return usage(args.error());
    if (args.has("help")) {
        printHelp(stdout);
        return kExitOk;
    }
    if (!args.positional().empty()) return usage("unexpected argument '" + args.positional().front() + "'");
    if (args.has("list-presets")) {
        std::error_code ec;
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(presetDir(), ec))
            if (e.path().extension() == ".json") files.push_back(e.path());
        if (ec) {
            std::fprintf(stderr, "tsa generate: cannot list %s: %s\n", presetDir().c_str(),
                         ec.message().c_str());
            return kExitFailure;
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            auto p = loadGeneratorPreset(f.string());
            std::printf("%-12s %s\n", f.stem().string().c_str(),
                        p.ok() ? p->description.c_str() : p.error().c_str());
        }
        return kExitOk;
    }

    const std::string presetArg = args.value("preset").value_or("default");
    auto preset = loadGeneratorPreset(resolvePreset(presetArg));
    if (!preset.ok()) return usage(preset.error());
    GeneratorConfig config = *preset;

    // Overrides: integers only, range-checked by validation below.
    if (auto s = args.value("seed")) {
        if (s->empty() || (*s)[0] == '-')
            return usage("option --seed: '" + *s + "' is not an unsigned integer");
        try {
            std::size_t pos = 0;
            config.seed = std::stoull(*s, &pos, 0);
            if (pos != s->size()) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
            return usage("option --seed: '" + *s + "' is not an unsigned integer");
        }
    }
    const long long layers = args.integer("layers", config.layers);
    config.qHeads = args.integer("heads", config.qHeads);
    config.kvHeads = args.integer("kv-heads", config.kvHeads);
    config.tokens = args.integer("tokens", config.tokens);
    config.headDim = args.integer("head-dim", config.headDim);
    const long long threads = args.integer("threads", 0);
    if (args.failed()) return usage(args.error());
    if (threads < 0 || threads > 1024) return usage("option --threads must be in [0, 1024]");
    // Checked before the int conversion, which would otherwise wrap a huge value into range.
    if (layers < 1 || layers > 4096) return usage("option --layers must be in [1, 4096]");
    config.layers = int(layers);
    if (Status s = validateGeneratorConfig(config); !s.ok()) return usage(s.message);

    if (args.has("print-config")) {
        std::printf("%s\n", generatorConfigToJson(config, 2).c_str());
        return kExitOk;
    }

    auto out = args.value("out");
    if (!out || out->empty()) return usage("--out FILE is required");
    SyntheticWriteOptions options;
    const std::string dtype = args.value("dtype").value_or("bf16");
    if (dtype == "bf16" || dtype == "BF16")
        options.dtype = DType::BF16;
    else if (dtype == "f16" || dtype == "F16")
        options.dtype = DType::F16;
    else if (dtype == "f32" || dtype == "F32")
        options.dtype = DType::F32;
    else
        return usage("option --dtype must be bf16, f16 or f32, got '" + dtype + "'");
    options.threads = int(threads);

    const bool quiet = args.has("quiet");
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    if (!quiet)
        std::fprintf(stderr,
                     "generating %s: preset %s, seed %llu, %d layers, %lld/%lld heads, %lld tokens, D %lld\n",
                     out->c_str(), config.preset.c_str(), (unsigned long long)config.seed, config.layers,
                     (long long)config.qHeads, (long long)config.kvHeads, (long long)config.tokens,
                     (long long)config.headDim);
    options.progress = [&](int layer, int total) {
        if (!quiet) std::fprintf(stderr, "  layer %d of %d written (%.1f s)\n", layer + 1, total, elapsed());
        return true;
    };
    auto result = writeSyntheticCapture(config, *out, options);
    if (!result.ok()) {
        std::fprintf(stderr, "tsa generate: %s\n", result.error().c_str());
        return result.status().code == ErrorCode::InvalidArgument ? kExitUsage : kExitFailure;
    }
    if (!quiet)
        std::fprintf(stderr, "wrote %s (%.1f MB) in %.1f s\n", out->c_str(), double(result->bytes) / 1e6,
                     elapsed());
    return kExitOk;
}

} // namespace tsa::cli
