#pragma once

// Opens the Remote a location names, with settings from flags and the
// environment (docs/bundle-format.md, "Remote stores").

#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "remote/location.h"
#include "remote/remote.h"

namespace spore::remote {

struct RemoteOptions {
    // CA bundle for HTTPS; SSL_CERT_FILE, else the system's, when empty.
    std::string ca_file;
    // S3 endpoint and region; the AWS_* environment when empty.
    std::string s3_endpoint;
    std::string s3_region;
    // Speak plain HTTP to a registry.
    bool plain_http = false;
};

Result<std::unique_ptr<Remote>> open_remote(const Location& location, const RemoteOptions& options);

// Whether this build can reach remote stores (it links libcurl).
bool remote_transports_available();

} // namespace spore::remote
