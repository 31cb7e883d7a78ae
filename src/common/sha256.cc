#include "common/sha256.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>

namespace spore {

Sha256Digest sha256(std::span<const uint8_t> bytes)
{
    Sha256Digest digest{};
    unsigned int length = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
        std::abort(); // only fails on allocation failure inside OpenSSL
    return digest;
}

DigestSetupInBackground::DigestSetupInBackground()
    : m_thread([] {
        // SHA-256 and HMAC-SHA-256 are fetched separately; both are wanted.
        const uint8_t key[1] = {};
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int length = 0;
        sha256({});
        HMAC(EVP_sha256(), key, sizeof key, key, sizeof key, mac, &length);
    })
{
}

DigestSetupInBackground::~DigestSetupInBackground() { m_thread.join(); }

std::string to_hex(std::span<const uint8_t> bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (uint8_t byte : bytes) {
        hex.push_back(digits[byte >> 4]);
        hex.push_back(digits[byte & 0xf]);
    }
    return hex;
}

} // namespace spore
