// Fuzzes the S3 error-body reader, the one parser of what an S3 store
// sends that is not verified against a digest. Whatever the body, the code
// and message it yields are bounded and printable, so a hostile store can
// shape an error message but never break its line or its length.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "remote/s3_remote.h"

namespace {

void check(bool condition, const char* what)
{
    if (!condition) {
        std::fprintf(stderr, "s3_error_fuzz: %s\n", what);
        std::abort();
    }
}

bool is_printable(std::string_view text)
{
    return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string_view body(reinterpret_cast<const char*>(data), size);
    spore::remote::S3ErrorDetails details = spore::remote::parse_s3_error(body);
    check(details.code.size() <= 64, "an error code over 64 bytes");
    check(details.message.size() <= 512, "an error message over 512 bytes");
    check(is_printable(details.code) && is_printable(details.message), "unprintable text kept");
    return 0;
}
