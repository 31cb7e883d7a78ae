#include "common/error.h"

#include <cstring>

namespace spore {

Error Error::from_errno(const std::string& what, int errno_value)
{
    return {ErrorCode::System, what + ": " + std::strerror(errno_value), errno_value};
}

} // namespace spore
