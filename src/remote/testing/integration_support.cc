#include "remote/testing/integration_support.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include "remote/testing/test_servers.h"

namespace spore::remote::testing {

const std::string& server(const std::string& name)
{
    return TestServers::get()[name];
}

std::vector<uint8_t> pattern(size_t size, uint8_t seed)
{
    std::vector<uint8_t> bytes(size);
    for (size_t index = 0; index < size; index++)
        bytes[index] = static_cast<uint8_t>(index * 131 + seed + index / 4096);
    return bytes;
}

std::string unique_name()
{
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(test->test_suite_name()) + "-" + test->name() + "-"
        + std::to_string(::getpid());
}

bool contains_text(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

std::shared_ptr<HttpClient> client_with_test_ca()
{
    HttpOptions options;
    options.ca_file = server("SPOREVM_TEST_CA");
    return HttpClient::create(options).value();
}

ContentRef blob(const std::string& digest)
{
    return {ContentKind::Blob, digest, ""};
}

bool holds(Remote& remote, const ContentRef& content, uint64_t size)
{
    auto contained = remote.contains(content, size);
    if (!contained) {
        ADD_FAILURE() << contained.error().message();
        return false;
    }
    return *contained;
}

bool holds(Remote& remote, const std::string& blob_digest, uint64_t size)
{
    return holds(remote, blob(blob_digest), size);
}

} // namespace spore::remote::testing
