#include "spore/digest.h"

#include "common/sha256.h"

namespace spore {

std::string digest_of(std::span<const uint8_t> bytes)
{
    return std::string(kDigestPrefix) + to_hex(sha256(bytes));
}

bool is_valid_digest(std::string_view text)
{
    if (text.size() != kDigestLength || !text.starts_with(kDigestPrefix))
        return false;
    for (char character : text.substr(kDigestPrefix.size())) {
        bool digit = character >= '0' && character <= '9';
        bool letter = character >= 'a' && character <= 'f';
        if (!digit && !letter)
            return false;
    }
    return true;
}

} // namespace spore
