#include "vmm/vcpu_state.h"

#include <algorithm>
#include <set>

#include "common/hex_value.h"
#include "kvm/register_names.h"

namespace spore {

namespace {

Error vcpu_error(const kvm::Vcpu& vcpu, const std::string& message)
{
    return Error::invalid("vcpu " + std::to_string(vcpu.index()) + ": " + message);
}

bool is_identification_register(const std::string& name)
{
    return name == "MIDR_EL1" || name == "REVIDR_EL1" || name.starts_with("ID_AA64");
}

} // namespace

Result<VcpuState> save_vcpu_state(kvm::Vcpu& vcpu)
{
    auto events = TRY(vcpu.events());
    if (events.serror_pending)
        return vcpu_error(vcpu, "an SError is pending; capture refused");

    VcpuState state;
    state.index = vcpu.index();
    state.powered_on = !TRY(vcpu.powered_off());
    for (uint64_t id : TRY(vcpu.register_ids())) {
        auto name = kvm::register_name(id);
        if (!name) {
            char text[32];
            std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(id));
            return Error::not_supported("vcpu " + std::to_string(vcpu.index()) + ": register id " + text +
                                        " has no name in this version of SporeVM; capture refused");
        }
        auto value = TRY(vcpu.read_register(id));
        state.registers[*name] = format_hex_bytes_le(value);
    }
    return state;
}

Result<void> restore_vcpu_state(kvm::Vcpu& vcpu, const VcpuState& state)
{
    auto offered_list = TRY(vcpu.register_ids());
    std::set<uint64_t> offered(offered_list.begin(), offered_list.end());
    std::set<uint64_t> restored;

    for (const auto& [name, text] : state.registers) {
        auto id = kvm::register_id_from_name(name);
        if (!id)
            return vcpu_error(vcpu, "unknown register " + name);
        if (!offered.contains(*id))
            return vcpu_error(vcpu, "register " + name + " is not offered by this host");
        restored.insert(*id);
        if (*id == kvm::register_id::timer_counter)
            continue;
        auto value = TRY(parse_hex_bytes_le(text, kvm::register_size(*id), name));
        if (TRY(vcpu.read_register(*id)) != value)
            TRY_CONTEXT(vcpu.write_register(*id, value), "vcpu " + std::to_string(vcpu.index()));
    }
    for (uint64_t id : offered) {
        if (!restored.contains(id))
            return vcpu_error(vcpu, "spore lacks register " + kvm::register_name(id).value_or("(unnamed)") +
                                        " that this host has");
    }

    TRY(vcpu.set_powered_off(!state.powered_on));
    auto counter = state.registers.find("CNTVCT_EL0");
    if (counter == state.registers.end())
        return vcpu_error(vcpu, "spore lacks the virtual counter CNTVCT_EL0");
    auto value = TRY(parse_hex_bytes_le(counter->second, 8, "CNTVCT_EL0"));
    TRY(vcpu.write_register(kvm::register_id::timer_counter, value));
    return {};
}

Result<NamedValues> cpu_identification(kvm::Vcpu& vcpu)
{
    NamedValues identification;
    for (uint64_t id : TRY(vcpu.register_ids())) {
        auto name = kvm::register_name(id);
        if (name && is_identification_register(*name))
            identification[*name] = format_hex_bytes_le(TRY(vcpu.read_register(id)));
    }
    return identification;
}

} // namespace spore
