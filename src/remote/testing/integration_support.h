#pragma once

// Helpers the tests against real servers share: the servers' settings, test
// data, names no other test uses, and assertions on what a remote holds.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "remote/http_client.h"
#include "remote/remote.h"

namespace spore::remote::testing {

// A value from the servers file; see TestServers.
const std::string& server(const std::string& name);

// size bytes made from seed that do not repeat from one 4 KiB page to the next.
std::vector<uint8_t> pattern(size_t size, uint8_t seed);

// "Suite-Test-pid" for the running test: a name no other test, nor an
// earlier run, uses.
std::string unique_name();

// Whether part occurs in text.
bool contains_text(const std::string& text, const std::string& part);

// An HttpClient that verifies servers against the test CA.
std::shared_ptr<HttpClient> client_with_test_ca();

// The reference to a blob by its digest.
ContentRef blob(const std::string& digest);

// contains() as a plain answer; an error fails the test and reads as false.
bool holds(Remote& remote, const ContentRef& content, uint64_t size);
bool holds(Remote& remote, const std::string& blob_digest, uint64_t size);

} // namespace spore::remote::testing
