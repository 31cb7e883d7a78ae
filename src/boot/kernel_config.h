#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace spore {

// A Linux kernel's build configuration (the .config format: CONFIG_X=value
// lines, "# CONFIG_X is not set" comments).
class KernelConfig {
public:
    // Parses .config text; input is bounded by the caller.
    static Result<KernelConfig> parse(std::string_view text);
    // Finds and inflates the configuration a CONFIG_IKCONFIG kernel embeds
    // between its IKCFG_ST and IKCFG_ED markers. NotFound when absent.
    static Result<KernelConfig> from_image(std::span<const uint8_t> image);

    // The value of an option ("y", "m", a number, a quoted string), or
    // nothing when unset.
    std::optional<std::string> value(const std::string& option) const;

private:
    std::map<std::string, std::string> m_options;
};

// Refuses a kernel that lacks any built-in feature the board and the exec
// agent need, naming every missing option in one line.
Result<void> check_guest_kernel_config(const KernelConfig& config);

} // namespace spore
