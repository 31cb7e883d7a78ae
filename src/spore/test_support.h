#pragma once

// Helpers shared by the spore format tests: a self-removing temporary
// directory and a small valid manifest to mutate.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "spore/manifest.h"

namespace spore::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TemporaryDirectory {
public:
    TemporaryDirectory()
    {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && base[0] ? base : "/tmp") + "/spore-test-XXXXXX";
        if (!::mkdtemp(pattern.data()))
            std::abort();
        m_path = pattern;
    }
    ~TemporaryDirectory()
    {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

    const std::string& path() const { return m_path; }
    std::string file(const std::string& name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

// Names in a directory, sorted, including hidden ones.
inline std::vector<std::string> list_directory(const std::string& path)
{
    std::vector<std::string> names;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(path, error))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

inline std::string read_text(const std::string& path)
{
    std::ifstream stream(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>()};
}

inline void write_text(const std::string& path, const std::string& text)
{
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream << text;
}

// Chunk size used by the small test images: the smallest the format allows.
inline constexpr uint64_t kTestChunkSize = 64 << 10;

// One test chunk of bytes all equal to fill.
inline std::vector<uint8_t> chunk_bytes(uint8_t fill)
{
    return std::vector<uint8_t>(kTestChunkSize, fill);
}

// Whether anything, even a dangling symlink, is at path.
inline bool exists(const std::string& path)
{
    struct stat status;
    return ::lstat(path.c_str(), &status) == 0;
}

// A valid two-vCPU manifest with four chunks of RAM; chunk digests are
// given by the caller (nullopt for zero chunks).
inline Manifest sample_manifest(std::vector<MemoryChunk> chunks = {{}, {}, {}, {}})
{
    Manifest manifest;
    manifest.created_at = "2025-01-02T03:04:05Z";
    manifest.platform
        = {"aarch64", "kvm", 1, 62500000, 2, 0x80000000, chunks.size() * kTestChunkSize,
            {{"MIDR_EL1", "0x00000000410fd083"}, {"ID_AA64PFR0_EL1", "0x0000000011112222"}}};
    for (uint32_t index = 0; index < 2; index++) {
        manifest.vcpus.push_back({index, index == 0,
            {{"x0", "0x0000000080000000"}, {"pc", "0x0000000080200000"},
                {"v0", "0x000102030405060708090a0b0c0d0e0f"}, {"fpsr", "0x00000000"}}});
        manifest.gic.redistributors.push_back({{"GICR_CTLR", "0x00000000"}});
        manifest.gic.cpu_interfaces.push_back({{"ICC_PMR_EL1", "0x00000000000000f0"}});
    }
    manifest.gic.distributor = {{"GICD_CTLR", "0x00000012"}};
    manifest.gic.line_levels = {{"SPI_32_63", "0x00000000"}};
    manifest.devices.push_back({"console", 3, {{"status", "0x0000000f"}}, {}});
    manifest.devices.push_back(
        {"vsock", 19, {{"status", "0x0000000f"}}, {{"guest_cid", "0x0000000000000003"}}});
    manifest.memory = {kTestChunkSize, std::move(chunks)};
    manifest.agent = {1, 1024};
    manifest.running_sessions.push_back({"session-1", 10, 0});
    manifest.identity = {
        3, 2, 0, 1, "", "0123456789abcdef0123456789abcdef", "spore-0123456789ab", "02aabbccddee"};
    return manifest;
}

} // namespace spore::testing
