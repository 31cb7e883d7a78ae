#include "spore/backing_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/file.h"
#include "common/sha256.h"
#include "spore/cache_directory.h"
#include "spore/digest.h"
#include "spore/durable_file.h"
#include "spore/manifest_json.h"
#include "spore/memory_image.h"

namespace spore {
namespace {

constexpr std::string_view kProofHeader = "sporevm-backing-proof 1";
// Separates this MAC's purpose from any other use of the key.
constexpr std::string_view kMacDomain = "sporevm-backing-file-v1";

// What the proof pins down about the image file. ctime is the field that
// matters most: no unprivileged call can set it back, so an edit is caught
// even when mtime is restored afterwards.
struct FileIdentity {
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;

    bool operator==(const FileIdentity&) const = default;
};

struct Proof {
    std::string memory;
    FileIdentity identity;
    std::string mac;
};

FileIdentity identity_of(const struct stat& status)
{
    auto nanoseconds = [](const timespec& time) {
        return static_cast<int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
    };
    return {static_cast<uint64_t>(status.st_dev), static_cast<uint64_t>(status.st_ino),
        static_cast<uint64_t>(status.st_size), nanoseconds(status.st_mtim),
        nanoseconds(status.st_ctim)};
}

std::string compute_mac(
    std::span<const uint8_t> key, const std::string& memory, const FileIdentity& identity)
{
    std::string message = std::string(kMacDomain) + "|" + memory + "|"
        + std::to_string(identity.device) + "|" + std::to_string(identity.inode) + "|"
        + std::to_string(identity.size) + "|" + std::to_string(identity.mtime_ns) + "|"
        + std::to_string(identity.ctime_ns);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const uint8_t*>(message.data()), message.size(), mac, &length))
        std::abort(); // only fails when OpenSSL cannot allocate
    return to_hex({mac, length});
}

std::string proof_text(
    const std::string& memory, const FileIdentity& identity, const std::string& mac)
{
    return std::string(kProofHeader) + "\nmemory " + memory + "\ndev "
        + std::to_string(identity.device) + "\ninode " + std::to_string(identity.inode) + "\nsize "
        + std::to_string(identity.size) + "\nmtime_ns " + std::to_string(identity.mtime_ns)
        + "\nctime_ns " + std::to_string(identity.ctime_ns) + "\nmac " + mac + "\n";
}

// Takes the line "<key> <value>\n" off the front of text.
std::optional<std::string_view> take_line(std::string_view& text, std::string_view key)
{
    size_t end = text.find('\n');
    if (end == std::string_view::npos)
        return std::nullopt;
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ' ')
        return std::nullopt;
    return line.substr(key.size() + 1);
}

template <typename Number>
bool take_number(std::string_view& text, std::string_view key, Number& out)
{
    auto value = take_line(text, key);
    if (!value)
        return false;
    auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), out);
    return error == std::errc() && end == value->data() + value->size();
}

std::optional<Proof> parse_proof(std::string_view text)
{
    if (!text.starts_with(kProofHeader) || text.substr(kProofHeader.size(), 1) != "\n")
        return std::nullopt;
    text.remove_prefix(kProofHeader.size() + 1);
    Proof proof;
    auto memory = take_line(text, "memory");
    if (!memory || !is_valid_digest(*memory))
        return std::nullopt;
    proof.memory = std::string(*memory);
    FileIdentity& identity = proof.identity;
    if (!take_number(text, "dev", identity.device) || !take_number(text, "inode", identity.inode)
        || !take_number(text, "size", identity.size)
        || !take_number(text, "mtime_ns", identity.mtime_ns)
        || !take_number(text, "ctime_ns", identity.ctime_ns))
        return std::nullopt;
    auto mac = take_line(text, "mac");
    if (!mac || mac->size() != 64 || !text.empty())
        return std::nullopt;
    proof.mac = std::string(*mac);
    return proof;
}

// A key is trusted only if nobody else could have read or planted it.
Result<std::optional<std::array<uint8_t, kHostKeySize>>> read_host_key(const std::string& path)
{
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file.valid() && errno == ENOENT)
        return std::optional<std::array<uint8_t, kHostKeySize>>();
    if (!file.valid())
        return Error::from_errno("host key " + path);
    struct stat status;
    if (::fstat(file.get(), &status) < 0)
        return Error::from_errno("host key " + path);
    if (!S_ISREG(status.st_mode) || status.st_uid != ::geteuid() || (status.st_mode & 077) != 0)
        return Error::invalid("host key " + path + ": must be a file of yours with mode 0600");
    if (static_cast<uint64_t>(status.st_size) != kHostKeySize) {
        return Error::invalid("host key " + path + ": " + std::to_string(status.st_size)
            + " bytes, expected " + std::to_string(kHostKeySize));
    }
    std::array<uint8_t, kHostKeySize> key;
    TRY(pread_fully(file.get(), key, 0, "host key " + path));
    return std::optional(key);
}

std::string parent_of(const std::string& path)
{
    size_t slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// Creates the key atomically: link() never replaces, so when processes
// race, the first key to land wins and every process then reads that one.
Result<void> create_host_key(const std::string& path)
{
    std::string parent = parent_of(path);
    TRY(make_directories(parent, 0700));
    std::array<uint8_t, kHostKeySize> key;
    TRY(fill_random(key));

    std::string temporary = parent + "/.host.key.tmp-" + unique_suffix();
    UniqueFd file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!file.valid())
        return Error::from_errno("host key " + temporary);
    auto written = write_fully(file.get(), key, "host key " + temporary);
    if (written)
        written = sync_file(file.get(), "host key " + temporary);
    int linked = written ? ::link(temporary.c_str(), path.c_str()) : 0;
    int link_errno = errno;
    ::unlink(temporary.c_str());
    TRY(written);
    if (linked < 0 && link_errno != EEXIST)
        return Error::from_errno("host key " + path, link_errno);
    return sync_directory(parent);
}

std::optional<std::string> absolute_environment(const char* name)
{
    const char* value = std::getenv(name);
    if (!value || value[0] != '/')
        return std::nullopt;
    return std::string(value);
}

Result<std::string> home_directory()
{
    const char* home = std::getenv("HOME");
    if (!home || home[0] == '\0')
        return Error::not_found("backing file cache: HOME is not set");
    return std::string(home);
}

Result<std::string> default_key_path()
{
    if (auto xdg = absolute_environment("XDG_DATA_HOME"))
        return *xdg + "/sporevm/host.key";
    return TRY(home_directory()) + "/.local/share/sporevm/host.key";
}

std::string hex_of(const std::string& digest)
{
    return digest.substr(kDigestPrefix.size());
}

} // namespace

Result<BackingFileCache> BackingFileCache::open_default()
{
    std::string directory = TRY_CONTEXT(user_cache_directory("ram"), "backing file cache");
    std::string key_path = TRY(default_key_path());
    return open(directory, key_path);
}

Result<BackingFileCache> BackingFileCache::open(
    const std::string& directory, const std::string& key_path)
{
    TRY_CONTEXT(make_directories(directory, 0700), "backing file cache");
    UniqueFd directory_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory_fd.valid())
        return Error::from_errno("backing file cache: " + directory);
    return BackingFileCache(directory, std::move(directory_fd), key_path);
}

std::string BackingFileCache::image_path(const MemoryIndex& index) const
{
    return m_directory + "/" + hex_of(memory_digest(index)) + ".raw";
}

Result<std::optional<UniqueFd>> BackingFileCache::find(
    const MemoryIndex& index, std::string* reason) const
{
    std::string digest = memory_digest(index);
    UniqueFd image(::openat(m_directory_fd.get(), (hex_of(digest) + ".raw").c_str(),
        O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    std::optional<std::string> miss;
    if (!image.valid() && errno == ENOENT)
        miss = "no backing file";
    else if (!image.valid())
        miss = std::string("cannot open backing file: ") + std::strerror(errno);
    else
        miss = check_image(index, digest, image.get());
    if (!miss)
        return std::optional(std::move(image));
    if (reason)
        *reason = *miss;
    return std::optional<UniqueFd>();
}

std::optional<std::string> BackingFileCache::check_image(
    const MemoryIndex& index, const std::string& digest, int fd) const
{
    struct stat status;
    if (::fstat(fd, &status) < 0 || !S_ISREG(status.st_mode))
        return "backing file is not a regular file";
    auto size = memory_image_size(index);
    if (!size || static_cast<uint64_t>(status.st_size) != *size)
        return "backing file has the wrong size";

    auto text = read_file(m_directory + "/" + hex_of(digest) + ".proof", kMaxProofSize);
    if (!text)
        return "no usable proof: " + text.error().message();
    auto proof = parse_proof({reinterpret_cast<const char*>(text->data()), text->size()});
    if (!proof)
        return "malformed proof";
    if (proof->memory != digest)
        return "proof is for another memory image";
    FileIdentity identity = identity_of(status);
    if (proof->identity != identity)
        return "proof does not match: file changed since it was written";

    auto key = read_host_key(m_key_path);
    if (!key)
        return key.error().message();
    if (!*key)
        return "no host key";
    std::string mac = compute_mac(**key, digest, identity);
    if (CRYPTO_memcmp(mac.data(), proof->mac.data(), mac.size()) != 0)
        return "bad MAC";
    return std::nullopt;
}

Result<void> BackingFileCache::publish(const MemoryIndex& index, std::span<const uint8_t> ram)
{
    uint64_t size = TRY(memory_image_size(index));
    if (ram.size() != size) {
        return Error::invalid("backing file: ram is " + std::to_string(ram.size())
            + " bytes but the index describes " + std::to_string(size));
    }
    return publish_image(index, [&](size_t chunk) -> Result<std::span<const uint8_t>> {
        return ram.subspan(chunk * index.chunk_size, index.chunk_size);
    });
}

Result<void> BackingFileCache::publish_from_chunks(const MemoryIndex& index, ChunkStore& store)
{
    TRY(memory_image_size(index));
    if (index.chunk_size > kMaxChunkFileSize)
        return Error::invalid("backing file: chunk size is larger than the chunk size limit");
    std::vector<uint8_t> buffer(index.chunk_size);
    return publish_image(index, [&](size_t chunk) -> Result<std::span<const uint8_t>> {
        TRY(store.read_verified(*index.chunks[chunk].digest, buffer));
        return std::span<const uint8_t>(buffer);
    });
}

Result<void> BackingFileCache::publish_image(const MemoryIndex& index, const ChunkSource& source)
{
    if (TRY(find(index, nullptr)))
        return {};
    HostKey key = TRY(load_or_create_key());
    std::string digest = memory_digest(index);
    std::string name = hex_of(digest) + ".raw";
    UniqueFd image = TRY(write_image(index, name, source));

    // The rename may itself update ctime, so the identity is read after it.
    struct stat status;
    if (::fstat(image.get(), &status) < 0)
        return Error::from_errno("backing file: " + m_directory + "/" + name);
    FileIdentity identity = identity_of(status);
    std::string text = proof_text(digest, identity, compute_mac(key, digest, identity));
    std::span bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    TRY_CONTEXT(write_file_atomically(
                    m_directory_fd.get(), m_directory, hex_of(digest) + ".proof", bytes, 0600),
        "backing file");
    return sync_file(m_directory_fd.get(), "backing file: " + m_directory);
}

Result<UniqueFd> BackingFileCache::write_image(
    const MemoryIndex& index, const std::string& name, const ChunkSource& source)
{
    uint64_t size = TRY(memory_image_size(index));
    std::string temporary = "." + name + ".tmp-" + unique_suffix();
    std::string what = "backing file: " + m_directory + "/" + name;
    UniqueFd image(::openat(
        m_directory_fd.get(), temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!image.valid())
        return Error::from_errno(what);

    // Zero chunks stay holes: the file is sized first and only stored
    // chunks are written, so an idle guest's image costs little disk.
    auto written = [&]() -> Result<void> {
        if (::ftruncate(image.get(), static_cast<off_t>(size)) < 0)
            return Error::from_errno(what + ": truncate");
        for (size_t chunk = 0; chunk < index.chunks.size(); chunk++) {
            if (!index.chunks[chunk].digest)
                continue;
            auto bytes = TRY(source(chunk));
            TRY(pwrite_fully(image.get(), bytes, chunk * index.chunk_size, what));
        }
        if (::fchmod(image.get(), 0444) < 0)
            return Error::from_errno(what + ": chmod");
        TRY(sync_file(image.get(), what));
        if (::renameat(m_directory_fd.get(), temporary.c_str(), m_directory_fd.get(), name.c_str())
            < 0)
            return Error::from_errno(what + ": rename");
        return {};
    }();
    if (!written) {
        ::unlinkat(m_directory_fd.get(), temporary.c_str(), 0);
        return written.release_error();
    }
    return image;
}

Result<BackingFileCache::HostKey> BackingFileCache::load_or_create_key() const
{
    auto key = TRY(read_host_key(m_key_path));
    if (key)
        return *key;
    TRY(create_host_key(m_key_path));
    key = TRY(read_host_key(m_key_path));
    if (!key)
        return Error::not_found("host key " + m_key_path + ": vanished after it was created");
    return *key;
}

} // namespace spore
