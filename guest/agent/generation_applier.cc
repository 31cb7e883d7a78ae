#include "guest/agent/generation_applier.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/random.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/unique_fd.h"

namespace spore::agent {
namespace {

constexpr mode_t kDirectoryMode = 0755;
// The parameters hold the entropy seed, which only root should see.
constexpr mode_t kJsonMode = 0600;
constexpr mode_t kEnvMode = 0644;

// Creates every missing directory of path's parent, like mkdir -p.
Result<void> make_parents(const std::string& path)
{
    for (size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        std::string directory = path.substr(0, slash);
        if (mkdir(directory.c_str(), kDirectoryMode) != 0 && errno != EEXIST)
            return Error::from_errno("mkdir " + directory);
    }
    return {};
}

Result<void> write_all(int fd, std::string_view contents, const std::string& path)
{
    while (!contents.empty()) {
        ssize_t written = ::write(fd, contents.data(), contents.size());
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return Error::from_errno("write " + path);
        }
        contents.remove_prefix(static_cast<size_t>(written));
    }
    return {};
}

Result<void> system_set_hostname(const std::string& hostname)
{
    if (sethostname(hostname.data(), hostname.size()) != 0)
        return Error::from_errno("sethostname " + hostname);
    return {};
}

Result<void> system_mix_entropy(std::span<const uint8_t> seed)
{
    UniqueFd random(open("/dev/urandom", O_WRONLY | O_CLOEXEC));
    if (!random.valid())
        return Error::from_errno("open /dev/urandom");
    // rand_pool_info ends in a flexible array that holds the seed.
    std::vector<uint8_t> buffer(sizeof(rand_pool_info) + seed.size());
    auto* info = reinterpret_cast<rand_pool_info*>(buffer.data());
    info->entropy_count = static_cast<int>(seed.size() * 8);
    info->buf_size = static_cast<int>(seed.size());
    std::memcpy(buffer.data() + sizeof(rand_pool_info), seed.data(), seed.size());
    if (ioctl(random.get(), RNDADDENTROPY, info) != 0)
        return Error::from_errno("ioctl RNDADDENTROPY");
    // Credited entropy alone does not reach the generator until its next
    // scheduled reseed; the reseed makes the very next getrandom() differ.
    if (ioctl(random.get(), RNDRESEEDCRNG) != 0)
        return Error::from_errno("ioctl RNDRESEEDCRNG");
    return {};
}

} // namespace

Result<void> replace_file(const std::string& path, std::string_view contents, mode_t mode)
{
    TRY(make_parents(path));
    std::string temporary = path + ".tmp";
    UniqueFd file(
        open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!file.valid())
        return Error::from_errno("create " + temporary);
    // The umask must not narrow the mode the readers of the file rely on.
    if (fchmod(file.get(), mode) != 0)
        return Error::from_errno("chmod " + temporary);
    TRY(write_all(file.get(), contents, temporary));
    if (::close(file.release()) != 0)
        return Error::from_errno("close " + temporary);
    if (rename(temporary.c_str(), path.c_str()) != 0)
        return Error::from_errno("rename " + temporary);
    return {};
}

GenerationActions system_generation_actions(std::string root)
{
    if (!root.empty() && root.back() == '/')
        root.pop_back();
    return {
        [root](const std::string& path, std::string_view contents, mode_t mode) {
            return replace_file(root + path, contents, mode);
        },
        system_set_hostname,
        system_mix_entropy,
        {},
    };
}

std::string shell_quote(std::string_view value)
{
    std::string quoted = "'";
    for (char character : value) {
        if (character == '\'')
            quoted += "'\\''";
        else
            quoted += character;
    }
    return quoted + "'";
}

std::string generation_environment(const exec::GenerationParameters& parameters)
{
    const std::pair<const char*, std::string> variables[] = {
        {"SPORE_GENERATION", std::to_string(parameters.generation)},
        {"SPORE_PARENT_GENERATION", std::to_string(parameters.parent_generation)},
        {"SPORE_FORK_INDEX", std::to_string(parameters.fork_index)},
        {"SPORE_FORK_COUNT", std::to_string(parameters.fork_count)},
        {"SPORE_FORK_BATCH_ID", parameters.batch_id},
        {"SPORE_VM_ID", parameters.vm_id},
        {"SPORE_HOSTNAME", parameters.hostname},
    };
    std::string text;
    for (const auto& [name, value] : variables)
        text += std::string(name) + "=" + shell_quote(value) + "\n";
    return text;
}

GenerationApplier::GenerationApplier(GenerationActions actions, WallClock clock)
    : m_actions(std::move(actions))
    , m_clock(std::move(clock))
{
}

bool GenerationApplier::apply(const exec::GenerationParameters& parameters)
{
    uint64_t generation = parameters.generation;
    if (generation <= m_applied)
        return false;
    // Recorded first: a step that fails now would fail again on a retry.
    m_applied = generation;

    if (m_actions.write_file) {
        auto json = exec::serialize_generation_parameters(parameters) + "\n";
        if (auto written = m_actions.write_file(kGenerationJsonPath, json, kJsonMode); !written)
            report(generation, written.error());
        auto environment = generation_environment(parameters);
        if (auto written = m_actions.write_file(kGenerationEnvPath, environment, kEnvMode);
            !written)
            report(generation, written.error());
    }
    if (m_actions.set_hostname) {
        if (auto named = m_actions.set_hostname(parameters.hostname); !named)
            report(generation, named.error());
    }
    if (m_actions.mix_entropy) {
        auto seed = exec::generation_entropy(parameters);
        if (auto mixed = m_actions.mix_entropy(seed); !mixed)
            report(generation, mixed.error());
    }
    if (auto set = apply_host_time(m_clock, exec::HostParameters{parameters.time_ns}); !set)
        report(generation, set.error());
    if (m_actions.report_applied)
        m_actions.report_applied(generation);
    return true;
}

void GenerationApplier::report(uint64_t generation, const Error& error) const
{
    std::fprintf(stderr, "spore-agent: generation %llu: %s\n",
        static_cast<unsigned long long>(generation), error.message().c_str());
}

} // namespace spore::agent
