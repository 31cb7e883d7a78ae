// Writes a synthetic spore for tests and benchmarks that need one without
// a VM: a valid manifest (the shape of spore/test_support.h's sample) and
// RAM of the given size in which a fraction of the chunks holds
// pseudo-random bytes and the rest are zero.
//
//   make_test_spore OUT [--memory 64M] [--chunk-size 2M] [--stored 0.5] [--seed 1]

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cli/size.h"
#include "spore/spore_directory.h"
#include "spore/test_support.h"

namespace {

struct Options {
    std::string out;
    uint64_t memory = 64 << 20;
    uint64_t chunk_size = 2 << 20;
    double stored = 0.5;
    uint64_t seed = 1;
};

[[noreturn]] void usage(const char* problem)
{
    std::fprintf(stderr,
        "make_test_spore: %s\nusage: make_test_spore OUT [--memory SIZE] "
        "[--chunk-size SIZE] [--stored FRACTION] [--seed N]\n",
        problem);
    std::exit(2);
}

uint64_t size_argument(const char* text)
{
    auto size = spore::parse_memory_size(text);
    if (!size)
        usage(size.error().message().c_str());
    return *size;
}

Options parse(int argc, char** argv)
{
    Options options;
    for (int i = 1; i < argc; i++) {
        std::string_view argument = argv[i];
        bool has_value = i + 1 < argc;
        if (argument == "--memory" && has_value)
            options.memory = size_argument(argv[++i]);
        else if (argument == "--chunk-size" && has_value)
            options.chunk_size = size_argument(argv[++i]);
        else if (argument == "--stored" && has_value)
            options.stored = std::strtod(argv[++i], nullptr);
        else if (argument == "--seed" && has_value)
            options.seed = std::strtoull(argv[++i], nullptr, 10);
        else if (!argument.starts_with("-") && options.out.empty())
            options.out = argv[i];
        else
            usage(("unexpected argument " + std::string(argument)).c_str());
    }
    if (options.out.empty())
        usage("no OUT directory");
    if (options.chunk_size == 0 || options.memory % options.chunk_size != 0)
        usage("--memory must be a multiple of --chunk-size");
    return options;
}

// xorshift64*: fast, deterministic bytes that do not compress or repeat
// across chunks, so every stored chunk has its own digest.
void fill(std::vector<uint8_t>& bytes, uint64_t& state)
{
    for (size_t offset = 0; offset + 8 <= bytes.size(); offset += 8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        uint64_t value = state * 0x2545f4914f6cdd1dull;
        __builtin_memcpy(bytes.data() + offset, &value, 8);
    }
}

} // namespace

int main(int argc, char** argv)
{
    Options options = parse(argc, argv);
    auto writer = spore::SporeWriter::begin(options.out);
    if (!writer) {
        std::fprintf(stderr, "make_test_spore: %s\n", writer.error().message().c_str());
        return 1;
    }

    uint64_t count = options.memory / options.chunk_size;
    auto stored = static_cast<uint64_t>(options.stored * static_cast<double>(count) + 0.5);
    std::vector<spore::MemoryChunk> chunks(count);
    std::vector<uint8_t> bytes(options.chunk_size);
    uint64_t state = options.seed * 0x9e3779b97f4a7c15ull + 1;
    for (uint64_t index = 0; index < stored; index++) {
        fill(bytes, state);
        auto digest = writer->chunks().put(bytes);
        if (!digest) {
            std::fprintf(stderr, "make_test_spore: %s\n", digest.error().message().c_str());
            return 1;
        }
        // Spread over RAM, as a guest's pages are.
        chunks[index * count / std::max<uint64_t>(stored, 1)].digest = *digest;
    }

    spore::Manifest manifest = spore::testing::sample_manifest(chunks);
    manifest.platform.ram_size = options.memory;
    manifest.memory.chunk_size = options.chunk_size;
    auto committed = writer->commit(manifest);
    if (!committed) {
        std::fprintf(stderr, "make_test_spore: %s\n", committed.error().message().c_str());
        return 1;
    }
    return 0;
}
