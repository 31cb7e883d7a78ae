#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <thread>

#include "common/error.h"

namespace spore {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::span<const uint8_t> bytes);
// Lower-case hex, as sha256sum prints it.
std::string to_hex(std::span<const uint8_t> bytes);

// OpenSSL sets up its providers and algorithm tables on the first digest:
// about a millisecond natively, ten or more in an emulated host. A caller
// that first does other work (reading a manifest) has that setup done on
// another thread meanwhile; a digest taken before it finishes just waits
// inside OpenSSL. The destructor joins the thread.
class DigestSetupInBackground {
public:
    DigestSetupInBackground();
    ~DigestSetupInBackground();
    DigestSetupInBackground(const DigestSetupInBackground&) = delete;
    DigestSetupInBackground& operator=(const DigestSetupInBackground&) = delete;

private:
    std::thread m_thread;
};

} // namespace spore
