#include "spore/identity.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>

#include "common/sha256.h"
#include "spore/durable_file.h"
#include "spore/manifest_json.h"

namespace spore {
namespace {

std::string random_hex(size_t bytes)
{
    uint8_t buffer[32] = {};
    std::span<uint8_t> random(buffer, bytes);
    auto filled = fill_random(random);
    if (!filled) {
        std::fprintf(stderr, "spore: no randomness for a new identity: %s\n",
            filled.error().message().c_str());
        std::abort();
    }
    return to_hex(random);
}

} // namespace

Identity new_identity()
{
    Identity identity;
    identity.generation = 1;
    identity.parent_generation = 0;
    identity.fork_index = 0;
    identity.fork_count = 1;
    identity.vm_id = random_hex(kVmIdDigits / 2);
    identity.hostname = hostname_for(identity.vm_id);
    identity.mac_seed = random_hex(kMacSeedDigits / 2);
    return identity;
}

std::string hostname_for(std::string_view vm_id)
{
    return std::string(kHostnamePrefix) + std::string(vm_id.substr(0, kHostnameIdDigits));
}

std::string generation_parameters_json(
    const Identity& identity, std::span<const uint8_t, 32> entropy, int64_t time_ns)
{
    nlohmann::ordered_json parameters = nlohmann::ordered_json::object();
    parameters["generation"] = identity.generation;
    parameters["parent_generation"] = identity.parent_generation;
    parameters["fork_index"] = identity.fork_index;
    parameters["fork_count"] = identity.fork_count;
    parameters["batch_id"] = identity.batch_id;
    parameters["vm_id"] = identity.vm_id;
    parameters["hostname"] = identity.hostname;
    parameters["mac_seed"] = identity.mac_seed;
    parameters["entropy"] = to_hex(entropy);
    parameters["time_ns"] = time_ns;
    // A validated identity is ASCII; replacing keeps this infallible anyway.
    return parameters.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace spore
