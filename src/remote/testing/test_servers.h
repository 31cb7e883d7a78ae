#pragma once

// The servers tests/remote/servers.sh started, as their servers.env file
// (path in SPOREVM_TEST_SERVERS) describes them; see tests/remote/README.md.

#include <map>
#include <string>

namespace spore::remote::testing {

class TestServers {
public:
    // Reads the file named by SPOREVM_TEST_SERVERS; aborts the test
    // binary with a message if it is unset or unreadable, since a remote
    // test without its servers must fail, not pass.
    static const TestServers& get();

    // The value of a variable; aborts if it is missing.
    const std::string& operator[](const std::string& name) const;

private:
    std::map<std::string, std::string> m_values;
};

} // namespace spore::remote::testing
