#include "boot/boot_assets.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include "boot/kernel_config.h"
#include "common/file.h"
#include "common/sha256.h"

namespace spore {

namespace {

constexpr uint64_t max_kernel_size = 256ULL << 20;
constexpr uint64_t max_initrd_size = 1ULL << 30;
constexpr uint64_t max_config_file_size = 4ULL << 20;

std::string executable_directory()
{
    char path[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    if (length <= 0)
        return ".";
    return std::filesystem::path(std::string(path, static_cast<size_t>(length))).parent_path();
}

Result<KernelConfig> config_from_file(const std::string& path)
{
    auto text = TRY(read_file(path, max_config_file_size));
    return KernelConfig::parse(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
}

Result<KernelConfig> find_config(const std::string& kernel_path, std::span<const uint8_t> image)
{
    auto embedded = KernelConfig::from_image(image);
    if (embedded || embedded.error().code() != ErrorCode::NotFound)
        return embedded;
    std::filesystem::path path(kernel_path);
    for (auto candidate : {path.string() + ".config", (path.parent_path() / "config").string()}) {
        if (std::filesystem::exists(candidate))
            return config_from_file(candidate);
    }
    return Error::not_found("kernel: " + kernel_path +
                            ": cannot verify its configuration: build it with CONFIG_IKCONFIG=y "
                            "or put its .config beside it as " + path.filename().string() + ".config");
}

Result<GuestKernel> load_checked(const std::string& path, std::vector<uint8_t> image, const KernelConfig& config)
{
    auto header = TRY_CONTEXT(parse_kernel_image(image), path);
    TRY_CONTEXT(check_guest_kernel_config(config), path);
    return GuestKernel{path, std::move(image), header};
}

} // namespace

std::string managed_kernel_directory()
{
    if (const char* directory = std::getenv("SPOREVM_KERNEL_DIR"); directory && *directory)
        return directory;
    return (std::filesystem::path(executable_directory()) / ".." / "share" / "sporevm" / "kernel")
        .lexically_normal();
}

Result<GuestKernel> load_managed_kernel(const std::string& directory)
{
    std::string image_path = directory + "/Image";
    if (!std::filesystem::exists(image_path))
        return Error::not_found("kernel: no managed kernel at " + image_path +
                                " (build it with kernel/build, or pass --kernel)");
    auto image = TRY(read_file(image_path, max_kernel_size));

    auto recorded = TRY(read_file(directory + "/Image.sha256", 4096));
    std::string expected(recorded.begin(), recorded.end());
    expected = expected.substr(0, expected.find_first_of(" \n"));
    std::string actual = to_hex(sha256(image));
    if (expected != actual)
        return Error::invalid("kernel: " + image_path + ": sha256 " + actual + " does not match Image.sha256 " +
                              expected);

    auto config = TRY(config_from_file(directory + "/config"));
    return load_checked(image_path, std::move(image), config);
}

Result<GuestKernel> load_kernel_override(const std::string& path)
{
    auto image = TRY_CONTEXT(read_file(path, max_kernel_size), "kernel");
    TRY_CONTEXT(parse_kernel_image(image), path);
    auto config = TRY(find_config(path, image));
    return load_checked(path, std::move(image), config);
}

Result<std::vector<uint8_t>> load_initrd(const std::string& path)
{
    auto initrd = TRY_CONTEXT(read_file(path, max_initrd_size), "initrd");
    if (initrd.empty())
        return Error::invalid("initrd: " + path + ": file is empty");
    return initrd;
}

} // namespace spore
