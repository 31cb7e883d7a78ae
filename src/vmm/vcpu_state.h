#pragma once

#include "common/error.h"
#include "kvm/kvm.h"
#include "spore/manifest.h"

namespace spore {

// Saves every register KVM offers for a parked vCPU, by name. A register
// without a name, or a pending SError, makes the capture fail: neither
// could be restored faithfully.
Result<VcpuState> save_vcpu_state(kvm::Vcpu& vcpu);

// Restores a vCPU saved by save_vcpu_state into a freshly initialized one.
// Refuses unknown names, registers this host does not offer, registers
// this host offers that the spore lacks, and malformed values, naming the
// register. Only registers whose value differs are written, so read-only
// identification registers pass when they match. The virtual counter is
// written last, so the guest sees time continue from the capture.
Result<void> restore_vcpu_state(kvm::Vcpu& vcpu, const VcpuState& state);

// The guest-visible CPU identification registers of a vCPU (MIDR_EL1,
// REVIDR_EL1, ID_AA64*), for the platform contract.
Result<NamedValues> cpu_identification(kvm::Vcpu& vcpu);

} // namespace spore
