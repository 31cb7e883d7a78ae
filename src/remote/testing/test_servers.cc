#include "remote/testing/test_servers.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace spore::remote::testing {

const TestServers& TestServers::get()
{
    static const TestServers servers = [] {
        TestServers result;
        const char* path = std::getenv("SPOREVM_TEST_SERVERS");
        if (!path || !*path) {
            std::fprintf(
                stderr, "SPOREVM_TEST_SERVERS is not set: start tests/remote/servers.sh first\n");
            std::abort();
        }
        std::ifstream file(path);
        if (!file) {
            std::fprintf(stderr, "cannot read %s: start tests/remote/servers.sh first\n", path);
            std::abort();
        }
        std::string line;
        while (std::getline(file, line)) {
            size_t equals = line.find('=');
            if (equals != std::string::npos)
                result.m_values[line.substr(0, equals)] = line.substr(equals + 1);
        }
        return result;
    }();
    return servers;
}

const std::string& TestServers::operator[](const std::string& name) const
{
    auto found = m_values.find(name);
    if (found == m_values.end()) {
        std::fprintf(stderr, "%s is not in the servers file\n", name.c_str());
        std::abort();
    }
    return found->second;
}

} // namespace spore::remote::testing
