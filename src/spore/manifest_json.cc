#include "spore/manifest_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <initializer_list>
#include <set>

#include "common/hex_value.h"
#include "common/sha256.h"
#include "common/strict_json.h"
#include "spore/digest.h"

namespace spore {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// Longest piece of untrusted text quoted back in an error message.
constexpr size_t kMaxQuoted = 64;

std::string join(std::string_view path, std::string_view key)
{
    if (path.empty())
        return std::string(key);
    return std::string(path) + "." + std::string(key);
}

std::string element(std::string_view path, size_t index)
{
    return std::string(path) + "[" + std::to_string(index) + "]";
}

std::string printable(std::string_view text)
{
    return spore::printable(text, kMaxQuoted);
}

Error refuse(const std::string& path, const std::string& problem)
{
    return Error::invalid("manifest: " + printable(path) + ": " + problem);
}

Result<Json> parse_json(std::string_view text)
{
    return TRY_CONTEXT(parse_strict_json(text, kMaxJsonDepth), "manifest");
}

// Refuses a non-object, any field not in `fields` and any missing field.
Result<void> expect_fields(
    const Json& value, const std::string& path, std::initializer_list<std::string_view> fields)
{
    if (!value.is_object())
        return refuse(path.empty() ? "top level" : path, "expected an object");
    for (const auto& [key, unused] : value.items()) {
        if (std::find(fields.begin(), fields.end(), key) == fields.end())
            return Error::invalid("manifest: unknown field " + printable(join(path, key)));
    }
    for (std::string_view field : fields) {
        if (!value.contains(field))
            return Error::invalid("manifest: missing field " + join(path, field));
    }
    return {};
}

Result<std::string> string_field(const Json& object, const std::string& path, const char* key)
{
    const Json& value = object.at(key);
    if (!value.is_string())
        return refuse(join(path, key), "expected a string");
    return value.get<std::string>();
}

Result<uint64_t> u64_field(const Json& object, const std::string& path, const char* key)
{
    const Json& value = object.at(key);
    if (!value.is_number_unsigned())
        return refuse(join(path, key), "expected an unsigned integer");
    return value.get<uint64_t>();
}

Result<uint32_t> u32_field(const Json& object, const std::string& path, const char* key)
{
    uint64_t value = TRY(u64_field(object, path, key));
    if (value > UINT32_MAX)
        return refuse(join(path, key), std::to_string(value) + " does not fit in 32 bits");
    return static_cast<uint32_t>(value);
}

Result<bool> bool_field(const Json& object, const std::string& path, const char* key)
{
    const Json& value = object.at(key);
    if (!value.is_boolean())
        return refuse(join(path, key), "expected true or false");
    return value.get<bool>();
}

Result<const Json*> array_field(const Json& object, const std::string& path, const char* key)
{
    const Json& value = object.at(key);
    if (!value.is_array())
        return refuse(join(path, key), "expected an array");
    return &value;
}

// Names become map keys whatever they hold; validate_manifest judges them.
Result<NamedValues> named_values_from_json(const Json& value, const std::string& path)
{
    if (!value.is_object())
        return refuse(path, "expected an object of named values");
    if (value.size() > kMaxNamedValues) {
        return refuse(path,
            std::to_string(value.size()) + " entries, limit is " + std::to_string(kMaxNamedValues));
    }
    NamedValues values;
    for (const auto& [name, text] : value.items()) {
        if (!text.is_string())
            return refuse(join(path, name), "expected a string");
        values.emplace(name, text.get<std::string>());
    }
    return values;
}

Result<NamedValues> named_values_field(const Json& object, const std::string& path, const char* key)
{
    return named_values_from_json(object.at(key), join(path, key));
}

// Converts each element of an array field with `convert`.
template <typename T, typename Convert>
Result<std::vector<T>> list_field(
    const Json& object, const std::string& path, const char* key, Convert convert)
{
    const Json* array = TRY(array_field(object, path, key));
    std::vector<T> list;
    for (size_t index = 0; index < array->size(); index++)
        list.push_back(TRY(convert((*array)[index], element(join(path, key), index))));
    return list;
}

Result<PlatformContract> platform_from_json(const Json& value, const std::string& path)
{
    TRY(expect_fields(value, path,
        {"architecture", "backend", "device_model_version", "counter_frequency", "vcpu_count",
            "ram_base", "ram_size", "cpu_identification"}));
    PlatformContract platform;
    platform.architecture = TRY(string_field(value, path, "architecture"));
    platform.backend = TRY(string_field(value, path, "backend"));
    platform.device_model_version = TRY(u32_field(value, path, "device_model_version"));
    platform.counter_frequency = TRY(u64_field(value, path, "counter_frequency"));
    platform.vcpu_count = TRY(u32_field(value, path, "vcpu_count"));
    platform.ram_base = TRY(u64_field(value, path, "ram_base"));
    platform.ram_size = TRY(u64_field(value, path, "ram_size"));
    platform.cpu_identification = TRY(named_values_field(value, path, "cpu_identification"));
    return platform;
}

Result<VcpuState> vcpu_from_json(const Json& value, const std::string& path)
{
    TRY(expect_fields(value, path, {"index", "powered_on", "registers"}));
    VcpuState vcpu;
    vcpu.index = TRY(u32_field(value, path, "index"));
    vcpu.powered_on = TRY(bool_field(value, path, "powered_on"));
    vcpu.registers = TRY(named_values_field(value, path, "registers"));
    return vcpu;
}

Result<GicState> gic_from_json(const Json& value, const std::string& path)
{
    TRY(expect_fields(
        value, path, {"distributor", "redistributors", "cpu_interfaces", "line_levels"}));
    GicState gic;
    gic.distributor = TRY(named_values_field(value, path, "distributor"));
    gic.redistributors
        = TRY(list_field<NamedValues>(value, path, "redistributors", named_values_from_json));
    gic.cpu_interfaces
        = TRY(list_field<NamedValues>(value, path, "cpu_interfaces", named_values_from_json));
    gic.line_levels = TRY(named_values_field(value, path, "line_levels"));
    return gic;
}

Result<DeviceState> device_from_json(const Json& value, const std::string& path)
{
    TRY(expect_fields(value, path, {"slot", "device_id", "transport", "device"}));
    DeviceState device;
    device.slot = TRY(string_field(value, path, "slot"));
    device.device_id = TRY(u32_field(value, path, "device_id"));
    device.transport = TRY(named_values_field(value, path, "transport"));
    device.device = TRY(named_values_field(value, path, "device"));
    return device;
}

Result<MemoryIndex> memory_from_json(const Json& value, const std::string& path)
{
    TRY(expect_fields(value, path, {"chunk_size", "chunks"}));
    MemoryIndex memory;
    memory.chunk_size = TRY(u64_field(value, path, "chunk_size"));
    const Json* chunks = TRY(array_field(value, path, "chunks"));
    memory.chunks.reserve(chunks->size());
    for (size_t index = 0; index < chunks->size(); index++) {
        const Json& chunk = (*chunks)[index];
        if (chunk.is_null())
            memory.chunks.push_back({});
        else if (chunk.is_string())
            memory.chunks.push_back({chunk.get<std::string>()});
        else
            return refuse(element(join(path, "chunks"), index), "expected a digest or null");
    }
    return memory;
}

Result<AgentInfo> agent_from_json(const Json& value, const std::string& path)
{
    TRY(expect_fields(value, path, {"protocol_version", "port"}));
    AgentInfo agent;
    agent.protocol_version = TRY(u32_field(value, path, "protocol_version"));
    agent.port = TRY(u32_field(value, path, "port"));
    return agent;
}

Result<RunningSession> session_from_json(const Json& value, const std::string& path)
{
    TRY(expect_fields(value, path, {"session_id", "stdout_offset", "stderr_offset"}));
    RunningSession session;
    session.session_id = TRY(string_field(value, path, "session_id"));
    session.stdout_offset = TRY(u64_field(value, path, "stdout_offset"));
    session.stderr_offset = TRY(u64_field(value, path, "stderr_offset"));
    return session;
}

// Schema and version come first, so that a newer manifest is reported as
// such rather than by the first field this reader does not know.
Result<void> check_schema(const Json& document)
{
    if (!document.is_object())
        return Error::invalid("manifest: top level: expected an object");
    if (!document.contains("schema"))
        return Error::invalid("manifest: missing field schema");
    std::string schema = TRY(string_field(document, "", "schema"));
    if (schema != Manifest::schema_name) {
        return Error::not_supported("manifest: unsupported schema \"" + printable(schema)
            + "\" (this spore reads " + Manifest::schema_name + ")");
    }
    if (!document.contains("version"))
        return Error::invalid("manifest: missing field version");
    uint64_t version = TRY(u64_field(document, "", "version"));
    if (version != Manifest::schema_version) {
        return Error::not_supported("manifest: unsupported version " + std::to_string(version)
            + " (this spore supports " + std::to_string(Manifest::schema_version) + ")");
    }
    return {};
}

Result<Identity> identity_from_json(const Json& value, const std::string& path)
{
    TRY(expect_fields(value, path,
        {"generation", "parent_generation", "fork_index", "fork_count", "batch_id", "vm_id",
            "hostname", "mac_seed"}));
    Identity identity;
    identity.generation = TRY(u64_field(value, path, "generation"));
    identity.parent_generation = TRY(u64_field(value, path, "parent_generation"));
    identity.fork_index = TRY(u32_field(value, path, "fork_index"));
    identity.fork_count = TRY(u32_field(value, path, "fork_count"));
    identity.batch_id = TRY(string_field(value, path, "batch_id"));
    identity.vm_id = TRY(string_field(value, path, "vm_id"));
    identity.hostname = TRY(string_field(value, path, "hostname"));
    identity.mac_seed = TRY(string_field(value, path, "mac_seed"));
    return identity;
}

Result<Manifest> manifest_from_json(const Json& document)
{
    TRY(check_schema(document));
    TRY(expect_fields(document, "",
        {"schema", "version", "created_at", "platform", "vcpus", "gic", "devices", "memory",
            "agent", "running_sessions", "identity"}));

    Manifest manifest;
    manifest.created_at = TRY(string_field(document, "", "created_at"));
    manifest.platform = TRY(platform_from_json(document.at("platform"), "platform"));
    manifest.vcpus = TRY(list_field<VcpuState>(document, "", "vcpus", vcpu_from_json));
    manifest.gic = TRY(gic_from_json(document.at("gic"), "gic"));
    manifest.devices = TRY(list_field<DeviceState>(document, "", "devices", device_from_json));
    manifest.memory = TRY(memory_from_json(document.at("memory"), "memory"));
    manifest.agent = TRY(agent_from_json(document.at("agent"), "agent"));
    manifest.running_sessions
        = TRY(list_field<RunningSession>(document, "", "running_sessions", session_from_json));
    manifest.identity = TRY(identity_from_json(document.at("identity"), "identity"));
    return manifest;
}

// Validation of the in-memory model. Paths match the JSON field paths.

bool is_printable_ascii(std::string_view text)
{
    return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// What check_name and check_hex_value accept, without building a message.
bool is_well_formed_name(std::string_view name)
{
    return !name.empty() && name.size() <= kMaxNameLength && is_printable_ascii(name);
}

bool is_hex_value(std::string_view text)
{
    size_t digits = text.size() >= 2 ? text.size() - 2 : 0;
    if (!text.starts_with("0x") || (digits != 8 && digits != 16 && digits != 32))
        return false;
    return std::all_of(text.begin() + 2, text.end(),
        [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<void> check_name(const std::string& path, std::string_view name)
{
    if (name.empty())
        return refuse(path, "empty name");
    if (name.size() > kMaxNameLength)
        return refuse(path, "longer than " + std::to_string(kMaxNameLength) + " characters");
    if (!is_printable_ascii(name))
        return refuse(
            path, "name \"" + printable(name) + "\" is not printable ascii without spaces");
    return {};
}

Result<void> check_hex_value(const std::string& path, std::string_view text)
{
    constexpr std::string_view expected = "expected 0x and 8, 16 or 32 lower-case hex digits";
    if (!is_printable_ascii(text))
        return refuse(path, std::string(expected));
    size_t width = text.size() >= 2 ? (text.size() - 2) / 2 : 0;
    if (width != 4 && width != 8 && width != 16)
        return refuse(path, std::string(expected) + ", got \"" + printable(text) + "\"");
    auto parsed = parse_hex_bytes_le(text, width, path);
    if (!parsed)
        return Error::invalid("manifest: " + parsed.error().message());
    return {};
}

Result<void> check_named_values(const std::string& path, const NamedValues& values)
{
    if (values.size() > kMaxNamedValues) {
        return refuse(path,
            std::to_string(values.size()) + " entries, limit is "
                + std::to_string(kMaxNamedValues));
    }
    for (const auto& [name, value] : values) {
        // A manifest holds hundreds of these; the path of a field is only
        // put together to name one that is wrong.
        if (is_well_formed_name(name) && is_hex_value(value))
            continue;
        TRY(check_name(join(path, name), name));
        TRY(check_hex_value(join(path, name), value));
    }
    return {};
}

Result<void> check_count(const std::string& path, size_t count, uint32_t vcpu_count)
{
    if (count != vcpu_count) {
        return refuse(path,
            std::to_string(count) + " entries but platform.vcpu_count is "
                + std::to_string(vcpu_count));
    }
    return {};
}

Result<void> check_platform(const PlatformContract& platform)
{
    TRY(check_name("platform.architecture", platform.architecture));
    TRY(check_name("platform.backend", platform.backend));
    if (platform.counter_frequency == 0)
        return refuse("platform.counter_frequency", "must not be zero");
    if (platform.vcpu_count == 0 || platform.vcpu_count > kMaxVcpus)
        return refuse("platform.vcpu_count", "must be 1 to " + std::to_string(kMaxVcpus));
    if (platform.ram_size == 0)
        return refuse("platform.ram_size", "must not be zero");
    if (platform.ram_base + platform.ram_size < platform.ram_base)
        return refuse("platform.ram_size", "ram ends beyond the 64-bit address space");
    return check_named_values("platform.cpu_identification", platform.cpu_identification);
}

Result<void> check_vcpus(const Manifest& manifest)
{
    TRY(check_count("vcpus", manifest.vcpus.size(), manifest.platform.vcpu_count));
    for (size_t index = 0; index < manifest.vcpus.size(); index++) {
        const VcpuState& vcpu = manifest.vcpus[index];
        std::string path = element("vcpus", index);
        if (vcpu.index != index)
            return refuse(join(path, "index"), "expected " + std::to_string(index));
        TRY(check_named_values(join(path, "registers"), vcpu.registers));
    }
    return {};
}

Result<void> check_named_values_list(
    const std::string& path, const std::vector<NamedValues>& list, uint32_t vcpu_count)
{
    TRY(check_count(path, list.size(), vcpu_count));
    for (size_t index = 0; index < list.size(); index++)
        TRY(check_named_values(element(path, index), list[index]));
    return {};
}

Result<void> check_gic(const GicState& gic, uint32_t vcpu_count)
{
    TRY(check_named_values("gic.distributor", gic.distributor));
    TRY(check_named_values_list("gic.redistributors", gic.redistributors, vcpu_count));
    TRY(check_named_values_list("gic.cpu_interfaces", gic.cpu_interfaces, vcpu_count));
    return check_named_values("gic.line_levels", gic.line_levels);
}

Result<void> check_devices(const std::vector<DeviceState>& devices)
{
    if (devices.size() > kMaxDevices)
        return refuse("devices", "more than " + std::to_string(kMaxDevices) + " entries");
    std::set<std::string_view> slots;
    for (size_t index = 0; index < devices.size(); index++) {
        const DeviceState& device = devices[index];
        std::string path = element("devices", index);
        TRY(check_name(join(path, "slot"), device.slot));
        if (!slots.insert(device.slot).second)
            return refuse(join(path, "slot"), "slot \"" + device.slot + "\" appears twice");
        TRY(check_named_values(join(path, "transport"), device.transport));
        TRY(check_named_values(join(path, "device"), device.device));
    }
    return {};
}

Result<void> check_memory(const MemoryIndex& memory, uint64_t ram_size)
{
    uint64_t chunk_size = memory.chunk_size;
    if (!std::has_single_bit(chunk_size) || chunk_size < kMinChunkSize
        || chunk_size > kMaxChunkSize) {
        return refuse("memory.chunk_size",
            std::to_string(chunk_size) + " is not a power of two from 65536 to 67108864");
    }
    if (ram_size % chunk_size != 0)
        return refuse("memory.chunk_size", "does not divide platform.ram_size");
    if (memory.chunks.size() != ram_size / chunk_size) {
        return refuse("memory.chunks",
            std::to_string(memory.chunks.size()) + " entries but ram_size / chunk_size is "
                + std::to_string(ram_size / chunk_size));
    }
    for (size_t index = 0; index < memory.chunks.size(); index++) {
        const auto& digest = memory.chunks[index].digest;
        if (digest && !is_valid_digest(*digest)) {
            return refuse(element("memory.chunks", index),
                "expected sha256: and 64 lower-case hex digits, got \"" + printable(*digest)
                    + "\"");
        }
    }
    return {};
}

Result<void> check_sessions(const std::vector<RunningSession>& sessions)
{
    if (sessions.size() > kMaxRunningSessions) {
        return refuse(
            "running_sessions", "more than " + std::to_string(kMaxRunningSessions) + " entries");
    }
    std::set<std::string_view> ids;
    for (size_t index = 0; index < sessions.size(); index++) {
        std::string path = join(element("running_sessions", index), "session_id");
        TRY(check_name(path, sessions[index].session_id));
        if (!ids.insert(sessions[index].session_id).second)
            return refuse(path, "session id appears twice");
    }
    return {};
}

bool is_lower_hex(std::string_view text, size_t digits)
{
    return text.size() == digits && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
}

Result<void> check_hex_id(const char* field, std::string_view text, size_t digits)
{
    if (!is_lower_hex(text, digits)) {
        return refuse(std::string("identity.") + field,
            "expected " + std::to_string(digits) + " lower-case hex digits, got \""
                + printable(text) + "\"");
    }
    return {};
}

bool is_hostname(std::string_view text)
{
    if (text.empty() || text.size() > kMaxHostnameLength || text.front() == '-'
        || text.back() == '-')
        return false;
    return std::all_of(text.begin(), text.end(),
        [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

Result<void> check_created_at(const std::string& created_at)
{
    if (created_at.empty() || created_at.size() > kMaxCreatedAtLength) {
        return refuse(
            "created_at", "must be 1 to " + std::to_string(kMaxCreatedAtLength) + " characters");
    }
    if (!is_printable_ascii(created_at))
        return refuse("created_at", "not printable ascii without spaces");
    return {};
}

// A JSON scalar as nlohmann prints it, so hand-built text matches a dump.
std::string json_string(const std::string& text)
{
    return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
}

OrderedJson named_values_to_json(const NamedValues& values)
{
    OrderedJson object = OrderedJson::object();
    for (const auto& [name, value] : values)
        object[name] = value;
    return object;
}

OrderedJson named_values_list_to_json(const std::vector<NamedValues>& list)
{
    OrderedJson array = OrderedJson::array();
    for (const NamedValues& values : list)
        array.push_back(named_values_to_json(values));
    return array;
}

OrderedJson platform_to_json(const PlatformContract& platform)
{
    OrderedJson object = OrderedJson::object();
    object["architecture"] = platform.architecture;
    object["backend"] = platform.backend;
    object["device_model_version"] = platform.device_model_version;
    object["counter_frequency"] = platform.counter_frequency;
    object["vcpu_count"] = platform.vcpu_count;
    object["ram_base"] = platform.ram_base;
    object["ram_size"] = platform.ram_size;
    object["cpu_identification"] = named_values_to_json(platform.cpu_identification);
    return object;
}

OrderedJson vcpus_to_json(const std::vector<VcpuState>& vcpus)
{
    OrderedJson array = OrderedJson::array();
    for (const VcpuState& vcpu : vcpus) {
        OrderedJson object = OrderedJson::object();
        object["index"] = vcpu.index;
        object["powered_on"] = vcpu.powered_on;
        object["registers"] = named_values_to_json(vcpu.registers);
        array.push_back(std::move(object));
    }
    return array;
}

OrderedJson gic_to_json(const GicState& gic)
{
    OrderedJson object = OrderedJson::object();
    object["distributor"] = named_values_to_json(gic.distributor);
    object["redistributors"] = named_values_list_to_json(gic.redistributors);
    object["cpu_interfaces"] = named_values_list_to_json(gic.cpu_interfaces);
    object["line_levels"] = named_values_to_json(gic.line_levels);
    return object;
}

OrderedJson devices_to_json(const std::vector<DeviceState>& devices)
{
    OrderedJson array = OrderedJson::array();
    for (const DeviceState& device : devices) {
        OrderedJson object = OrderedJson::object();
        object["slot"] = device.slot;
        object["device_id"] = device.device_id;
        object["transport"] = named_values_to_json(device.transport);
        object["device"] = named_values_to_json(device.device);
        array.push_back(std::move(object));
    }
    return array;
}

OrderedJson memory_to_json(const MemoryIndex& memory)
{
    OrderedJson chunks = OrderedJson::array();
    for (const MemoryChunk& chunk : memory.chunks) {
        if (chunk.digest)
            chunks.push_back(*chunk.digest);
        else
            chunks.push_back(nullptr);
    }
    OrderedJson object = OrderedJson::object();
    object["chunk_size"] = memory.chunk_size;
    object["chunks"] = std::move(chunks);
    return object;
}

OrderedJson sessions_to_json(const std::vector<RunningSession>& sessions)
{
    OrderedJson array = OrderedJson::array();
    for (const RunningSession& session : sessions) {
        OrderedJson object = OrderedJson::object();
        object["session_id"] = session.session_id;
        object["stdout_offset"] = session.stdout_offset;
        object["stderr_offset"] = session.stderr_offset;
        array.push_back(std::move(object));
    }
    return array;
}

} // namespace

Result<Manifest> parse_manifest(std::string_view json)
{
    if (json.size() > kMaxManifestSize) {
        return Error::invalid("manifest: " + std::to_string(json.size()) + " bytes, limit is "
            + std::to_string(kMaxManifestSize));
    }
    Json document = TRY(parse_json(json));
    Manifest manifest = TRY(manifest_from_json(document));
    TRY(validate_manifest(manifest));
    return manifest;
}

Result<void> validate_identity(const Identity& identity)
{
    if (identity.generation == 0)
        return refuse("identity.generation", "must be at least 1");
    if (identity.parent_generation >= identity.generation) {
        return refuse("identity.parent_generation",
            std::to_string(identity.parent_generation) + " is not below generation "
                + std::to_string(identity.generation));
    }
    if (identity.fork_count == 0 || identity.fork_count > kMaxForkCount)
        return refuse("identity.fork_count", "must be 1 to " + std::to_string(kMaxForkCount));
    if (identity.fork_index >= identity.fork_count) {
        return refuse("identity.fork_index",
            std::to_string(identity.fork_index) + " is not below fork_count "
                + std::to_string(identity.fork_count));
    }
    if (!identity.batch_id.empty())
        TRY(check_hex_id("batch_id", identity.batch_id, kBatchIdDigits));
    TRY(check_hex_id("vm_id", identity.vm_id, kVmIdDigits));
    if (!is_hostname(identity.hostname)) {
        return refuse("identity.hostname",
            "\"" + printable(identity.hostname) + "\" is not 1 to "
                + std::to_string(kMaxHostnameLength)
                + " of a-z, 0-9 and '-' without '-' at either end");
    }
    return check_hex_id("mac_seed", identity.mac_seed, kMacSeedDigits);
}

Result<void> validate_manifest(const Manifest& manifest)
{
    TRY(check_created_at(manifest.created_at));
    TRY(check_platform(manifest.platform));
    TRY(check_vcpus(manifest));
    TRY(check_gic(manifest.gic, manifest.platform.vcpu_count));
    TRY(check_devices(manifest.devices));
    TRY(check_memory(manifest.memory, manifest.platform.ram_size));
    TRY(check_sessions(manifest.running_sessions));
    return validate_identity(manifest.identity);
}

ManifestSerializer::ManifestSerializer(const Manifest& manifest)
{
    OrderedJson document = OrderedJson::object();
    document["schema"] = Manifest::schema_name;
    document["version"] = Manifest::schema_version;
    document["created_at"] = manifest.created_at;
    document["platform"] = platform_to_json(manifest.platform);
    document["vcpus"] = vcpus_to_json(manifest.vcpus);
    document["gic"] = gic_to_json(manifest.gic);
    document["devices"] = devices_to_json(manifest.devices);
    document["memory"] = memory_to_json(manifest.memory);
    document["agent"]
        = {{"protocol_version", manifest.agent.protocol_version}, {"port", manifest.agent.port}};
    document["running_sessions"] = sessions_to_json(manifest.running_sessions);
    // Replacing invalid UTF-8 instead of throwing keeps this infallible; a
    // validated manifest holds only ASCII, so nothing is ever replaced.
    m_prefix = document.dump(2, ' ', false, Json::error_handler_t::replace);
    // The dump ends with "\n}"; identity, the last field, goes before it.
    m_prefix.resize(m_prefix.size() - 2);
    m_prefix += ",\n  \"identity\": ";
}

std::string ManifestSerializer::identity_text(const Identity& identity)
{
    // Hand-built in the layout a two-space dump gives an object one level
    // deep, which is what keeps spliced manifests canonical.
    std::string text = "{\n    \"generation\": " + std::to_string(identity.generation);
    text += ",\n    \"parent_generation\": " + std::to_string(identity.parent_generation);
    text += ",\n    \"fork_index\": " + std::to_string(identity.fork_index);
    text += ",\n    \"fork_count\": " + std::to_string(identity.fork_count);
    text += ",\n    \"batch_id\": " + json_string(identity.batch_id);
    text += ",\n    \"vm_id\": " + json_string(identity.vm_id);
    text += ",\n    \"hostname\": " + json_string(identity.hostname);
    text += ",\n    \"mac_seed\": " + json_string(identity.mac_seed);
    text += "\n  }\n}\n";
    return text;
}

std::string ManifestSerializer::serialize(const Identity& identity) const
{
    return m_prefix + identity_text(identity);
}

std::string serialize_manifest(const Manifest& manifest)
{
    return ManifestSerializer(manifest).serialize(manifest.identity);
}

std::string memory_digest(const MemoryIndex& index)
{
    std::string text = std::to_string(index.chunk_size) + "\n";
    text.reserve(text.size() + index.chunks.size() * (kDigestLength + 1));
    for (const MemoryChunk& chunk : index.chunks)
        text += (chunk.digest ? *chunk.digest : std::string("zero")) + "\n";
    return digest_of({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

} // namespace spore
