#include "remote/layout_store.h"

#include "spore/digest.h"

namespace spore::remote {

std::string object_name(std::string_view prefix, std::string_view name)
{
    if (prefix.empty())
        return std::string(name);
    return std::string(prefix) + "/" + std::string(name);
}

std::string blob_object_name(std::string_view prefix, std::string_view digest)
{
    return object_name(prefix, "blobs/sha256/" + std::string(digest.substr(kDigestPrefix.size())));
}

} // namespace spore::remote
