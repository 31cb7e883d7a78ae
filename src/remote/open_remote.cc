#include "remote/open_remote.h"

#include "remote/directory_remote.h"

#ifdef SPOREVM_HAVE_CURL
#include "remote/http_remote.h"
#include "remote/registry_remote.h"
#include "remote/s3_remote.h"
#endif

namespace spore::remote {

#ifdef SPOREVM_HAVE_CURL

bool remote_transports_available()
{
    return true;
}

Result<std::unique_ptr<Remote>> open_remote(const Location& location, const RemoteOptions& options)
{
    if (location.kind == LocationKind::Directory)
        return std::unique_ptr<Remote>(TRY(DirectoryRemote::create(location)));

    HttpOptions http_options;
    http_options.ca_file = options.ca_file.empty() ? ca_file_from_environment() : options.ca_file;
    std::shared_ptr<HttpClient> http = TRY(HttpClient::create(http_options));
    switch (location.kind) {
    case LocationKind::Directory:
        break;
    case LocationKind::S3: {
        S3Settings settings = TRY(s3_settings_from_environment());
        if (!options.s3_endpoint.empty())
            settings.endpoint = options.s3_endpoint;
        if (!options.s3_region.empty())
            settings.region = options.s3_region;
        return std::unique_ptr<Remote>(
            TRY(S3Remote::create(location, std::move(settings), std::move(http))));
    }
    case LocationKind::Http:
        return std::unique_ptr<Remote>(TRY(HttpRemote::create(location, std::move(http))));
    case LocationKind::Registry: {
        RegistrySettings settings = TRY(registry_settings_from_environment(location.host));
        settings.plain_http = settings.plain_http || options.plain_http;
        return std::unique_ptr<Remote>(
            TRY(RegistryRemote::create(location, std::move(settings), std::move(http))));
    }
    }
    return Error::invalid("unknown location kind: " + location.text);
}

#else

bool remote_transports_available()
{
    return false;
}

Result<std::unique_ptr<Remote>> open_remote(const Location& location, const RemoteOptions&)
{
    if (location.kind == LocationKind::Directory)
        return std::unique_ptr<Remote>(TRY(DirectoryRemote::create(location)));
    return Error::not_supported(location.text
        + ": this spore was built without remote transports (a static build without libcurl); "
          "pull on a host with a full build and copy the spore, or use a bundle directory");
}

#endif

} // namespace spore::remote
