// Fork cost per child against RAM size (docs/spore-format.md, "Fork
// batches"). Builds a synthetic 512 MiB and a 2 GiB spore whose manifests
// look like real captures (2 MiB chunks, 10% of them stored, a full set of
// vCPU, GIC and device registers), forks each into 1000 children several
// times and prints the time per child. Stored chunks are real content with
// correct digests, written sparse so the spores cost little disk.
//
//   fork_bench [DIRECTORY]   (default: $TMPDIR or /tmp)
//
// Everything is made in a new directory inside DIRECTORY and removed at the
// end.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/hex_value.h"
#include "spore/digest.h"
#include "spore/fork.h"
#include "spore/identity.h"
#include "spore/manifest_json.h"
#include "spore/memory_image.h"
#include "spore/spore_directory.h"

namespace {

using namespace spore;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kChildren = 1000;
constexpr int kRuns = 5;
// Every tenth chunk holds data, the share an idle guest typically dirties.
constexpr uint64_t kStoredEvery = 10;

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "fork_bench: %s\n", what.c_str());
    std::exit(1);
}

template <typename T> T check(Result<T> result, const char* what)
{
    if (!result)
        fail(std::string(what) + ": " + result.error().message());
    return std::move(result).value();
}

void check(Result<void> result, const char* what)
{
    if (!result)
        fail(std::string(what) + ": " + result.error().message());
}

NamedValues registers(const char* prefix, int count, int width_bytes)
{
    NamedValues values;
    for (int index = 0; index < count; index++) {
        std::string name = prefix + std::to_string(index);
        values[name] = width_bytes == 4 ? format_hex_u32(0x1000u + index)
                                        : format_hex_u64(0xffff800008000000ull + index);
    }
    return values;
}

// The registers and devices a capture of a two-vCPU guest records.
Manifest machine_state(uint64_t ram_size)
{
    Manifest manifest;
    manifest.created_at = "2025-01-02T03:04:05Z";
    manifest.platform
        = {"aarch64", "kvm", 1, 62500000, 2, 0x80000000, ram_size, registers("ID_AA64_", 16, 8)};
    for (uint32_t index = 0; index < 2; index++) {
        NamedValues core = registers("x", 31, 8);
        NamedValues system = registers("S3_0_C1_C0_", 60, 8);
        core.insert(system.begin(), system.end());
        std::vector<uint8_t> vector(16, 0x5a);
        for (int number = 0; number < 32; number++)
            core["v" + std::to_string(number)] = format_hex_bytes_le(vector);
        manifest.vcpus.push_back({index, true, std::move(core)});
        manifest.gic.redistributors.push_back(registers("GICR_IPRIORITYR", 16, 4));
        manifest.gic.cpu_interfaces.push_back(registers("ICC_AP0R", 16, 8));
    }
    manifest.gic.distributor = registers("GICD_IPRIORITYR", 80, 4);
    manifest.gic.line_levels = registers("SPI_", 8, 4);
    const char* slots[] = {"console", "rng", "vsock"};
    for (uint32_t index = 0; index < 3; index++) {
        manifest.devices.push_back(
            {slots[index], 3 + index, registers("queue", 30, 8), registers("field", 4, 8)});
    }
    manifest.agent = {1, 1024};
    manifest.identity = new_identity();
    return manifest;
}

// Writes a chunk whose bytes are its index then zeros, as a sparse file of
// full size, and returns its digest.
std::string write_sparse_chunk(const std::string& directory, uint64_t index)
{
    std::vector<uint8_t> bytes(kDefaultChunkSize, 0);
    std::snprintf(reinterpret_cast<char*>(bytes.data()), 64, "chunk %llu",
        static_cast<unsigned long long>(index));
    std::string digest = digest_of(bytes);
    std::string path = directory + "/" + digest.substr(kDigestPrefix.size());
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::pwrite(fd, bytes.data(), 4096, 0) != 4096
        || ::ftruncate(fd, static_cast<off_t>(kDefaultChunkSize)) < 0 || ::fsync(fd) < 0)
        fail(path + ": cannot write");
    ::close(fd);
    return digest;
}

void build_spore(const std::string& path, uint64_t ram_size)
{
    SporeWriter writer = check(SporeWriter::begin(path), "begin spore");
    Manifest manifest = machine_state(ram_size);
    manifest.memory.chunk_size = kDefaultChunkSize;
    for (uint64_t index = 0; index < ram_size / kDefaultChunkSize; index++) {
        if (index % kStoredEvery == 0)
            manifest.memory.chunks.push_back({write_sparse_chunk(writer.chunks().path(), index)});
        else
            manifest.memory.chunks.push_back({});
    }
    check(writer.commit(manifest), "commit spore");
}

struct Figures {
    double per_child_ms = 0; // median over the runs, whole fork
    double best_ms = 0; // best run
    double staging_ms = 0; // median: until the last child is staged
    size_t manifest_bytes = 0;
};

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

// Batches are kept until the end: on ext4 without a journal, inode
// allocation scans past recently deleted inodes, so deleting one batch
// would slow the next one's file creation several times over.
Figures measure(
    const std::string& directory, const std::string& parent, uint32_t children, int runs)
{
    static int batches = 0;
    std::vector<double> totals, stagings;
    Figures figures;
    for (int run = 0; run < runs; run++) {
        std::string out = directory + "/batch-" + std::to_string(batches++);
        Clock::time_point start = Clock::now();
        Clock::time_point staged = start;
        ForkOptions options;
        options.on_child_staged = [&](uint32_t done, uint32_t count) -> Result<void> {
            if (done == count)
                staged = Clock::now();
            return {};
        };
        ForkResult result = check(fork_spore(parent, children, out, options), "fork");
        double total = std::chrono::duration<double, std::milli>(result.elapsed).count();
        totals.push_back(total / children);
        stagings.push_back(
            std::chrono::duration<double, std::milli>(staged - start).count() / children);
        struct stat status;
        if (::stat((result.children.front() + "/manifest.json").c_str(), &status) == 0)
            figures.manifest_bytes = static_cast<size_t>(status.st_size);
    }
    figures.per_child_ms = median(totals);
    figures.best_ms = *std::min_element(totals.begin(), totals.end());
    figures.staging_ms = median(stagings);
    return figures;
}

// What the file system alone charges per child: a directory, a symlink and
// a file of the manifest's size, by bare system calls. Fork cost above this
// floor is SporeVM's own.
double file_system_floor_ms(const std::string& directory, size_t manifest_bytes, uint32_t children)
{
    static int floors = 0;
    std::string out = directory + "/floor-" + std::to_string(floors++);
    if (::mkdir(out.c_str(), 0755) < 0)
        fail(out + ": cannot create");
    std::string bytes(manifest_bytes, 'x');
    Clock::time_point start = Clock::now();
    for (uint32_t index = 0; index < children; index++) {
        std::string child = out + "/" + fork_child_name(index);
        std::string manifest = child + "/manifest.json";
        if (::mkdir(child.c_str(), 0755) < 0 || ::symlink("../chunks", (child + "/chunks").c_str()) < 0)
            fail(child + ": cannot create");
        int fd = ::open(manifest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
            fail(manifest + ": cannot write");
        ::close(fd);
    }
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count() / children;
}

const char* file_system_name(const std::string& path)
{
    struct statfs status;
    if (::statfs(path.c_str(), &status) < 0)
        return "unknown";
    switch (status.f_type) {
    case 0xef53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683e:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    case 0x794c7630:
        return "overlayfs";
    default:
        return "other";
    }
}

void print(const char* label, uint32_t children, const Figures& figures)
{
    std::printf("%-8s %6u children  %7zu-byte manifests  %.4f ms/child (best %.4f; staging "
                "%.4f, sync and publish %.4f)\n",
        label, children, figures.manifest_bytes, figures.per_child_ms, figures.best_ms,
        figures.staging_ms, figures.per_child_ms - figures.staging_ms);
}

} // namespace

int main(int argc, char** argv)
{
    const char* base = argc > 1 ? argv[1] : std::getenv("TMPDIR");
    std::string directory = std::string(base && base[0] ? base : "/tmp") + "/fork-bench-XXXXXX";
    if (!::mkdtemp(directory.data()))
        fail("cannot create " + directory);
    std::printf("fork_bench: %s (%s), %d runs of %u children each, median\n", directory.c_str(),
        file_system_name(directory), kRuns, kChildren);

    std::string small = directory + "/spore-512m";
    std::string large = directory + "/spore-2g";
    build_spore(small, 512ull << 20);
    build_spore(large, 2048ull << 20);

    Figures small_figures = measure(directory, small, kChildren, kRuns);
    Figures large_figures = measure(directory, large, kChildren, kRuns);
    print("512 MiB", kChildren, small_figures);
    print("2 GiB", kChildren, large_figures);
    std::printf(
        "ratio 2 GiB / 512 MiB: %.2f\n", large_figures.per_child_ms / small_figures.per_child_ms);
    std::printf("file system floor (mkdir, symlink, create and write a manifest-sized file): "
                "%.4f ms/child\n",
        file_system_floor_ms(directory, large_figures.manifest_bytes, kChildren));

    Figures most = measure(directory, large, kMaxForkChildren, 1);
    print("2 GiB", kMaxForkChildren, most);

    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
    return 0;
}
