#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace spore {

// What kind of failure an Error reports. Callers branch on the code; the
// message is for people.
enum class ErrorCode {
    System, // a system call failed; errno_value() says why
    InvalidInput, // bytes from outside (files, guest, network) are malformed
    NotSupported, // a known limit of SporeVM or of this host
    NotFound, // a named thing does not exist
    Timeout, // a deadline passed
    Guest, // the guest misbehaved or stopped unexpectedly
    Interrupted, // the user or a signal asked us to stop
};

// A failure with a code and a one-line, lower-case message in the form
// "what failed: value: cause".
class [[nodiscard]] Error {
public:
    Error(ErrorCode code, std::string message, int errno_value = 0)
        : m_code(code)
        , m_message(std::move(message))
        , m_errno(errno_value)
    {
    }

    // An Error for a failed system call; reads errno unless told otherwise.
    static Error from_errno(const std::string& what, int errno_value = errno);
    static Error invalid(std::string message)
    {
        return {ErrorCode::InvalidInput, std::move(message)};
    }
    static Error not_supported(std::string message)
    {
        return {ErrorCode::NotSupported, std::move(message)};
    }
    static Error not_found(std::string message)
    {
        return {ErrorCode::NotFound, std::move(message)};
    }
    static Error timeout(std::string message) { return {ErrorCode::Timeout, std::move(message)}; }
    static Error guest(std::string message) { return {ErrorCode::Guest, std::move(message)}; }

    ErrorCode code() const { return m_code; }
    const std::string& message() const { return m_message; }
    int errno_value() const { return m_errno; }

    // The same error with "context: " in front of its message.
    Error with_context(const std::string& context) const
    {
        return {m_code, context + ": " + m_message, m_errno};
    }

private:
    ErrorCode m_code;
    std::string m_message;
    int m_errno;
};

// Either a T or an Error. Accessing the wrong alternative is a bug and
// aborts.
template <typename T> class [[nodiscard]] Result {
public:
    Result(T value)
        : m_storage(std::in_place_index<0>, std::move(value))
    {
    }
    Result(Error error)
        : m_storage(std::in_place_index<1>, std::move(error))
    {
    }

    bool has_value() const { return m_storage.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() &
    {
        check(true);
        return std::get<0>(m_storage);
    }
    const T& value() const&
    {
        check(true);
        return std::get<0>(m_storage);
    }
    T&& value() &&
    {
        check(true);
        return std::get<0>(std::move(m_storage));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const
    {
        check(false);
        return std::get<1>(m_storage);
    }
    Error&& release_error()
    {
        check(false);
        return std::get<1>(std::move(m_storage));
    }

private:
    void check(bool want_value) const
    {
        if (has_value() != want_value) {
            std::fprintf(stderr, "spore: Result accessed as the wrong alternative\n");
            std::abort();
        }
    }

    std::variant<T, Error> m_storage;
};

template <> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error)
        : m_error(std::move(error))
    {
    }

    bool has_value() const { return !m_error.has_value(); }
    explicit operator bool() const { return has_value(); }
    void value() const
    {
        if (m_error) {
            std::fprintf(stderr, "spore: Result<void> holding an error was used as success\n");
            std::abort();
        }
    }
    const Error& error() const { return *m_error; }
    Error&& release_error() { return std::move(*m_error); }

private:
    std::optional<Error> m_error;
};

} // namespace spore

#define SPORE_CONCATENATE_(a, b) a##b
#define SPORE_CONCATENATE(a, b) SPORE_CONCATENATE_(a, b)

// Evaluates a Result-returning expression; on error returns the error from
// the enclosing function, otherwise yields the value. Nests: each use gets
// its own temporary.
#define TRY(expression) SPORE_TRY_(expression, SPORE_CONCATENATE(spore_try_, __COUNTER__))
#define SPORE_TRY_(expression, result)                                                             \
    ({                                                                                             \
        auto result = (expression);                                                                \
        if (!result.has_value()) [[unlikely]]                                                      \
            return result.release_error();                                                         \
        std::move(result).value();                                                                 \
    })

// Like TRY, but prefixes the error message with a context string.
#define TRY_CONTEXT(expression, context)                                                           \
    SPORE_TRY_CONTEXT_(expression, context, SPORE_CONCATENATE(spore_try_, __COUNTER__))
#define SPORE_TRY_CONTEXT_(expression, context, result)                                            \
    ({                                                                                             \
        auto result = (expression);                                                                \
        if (!result.has_value()) [[unlikely]]                                                      \
            return result.error().with_context(context);                                           \
        std::move(result).value();                                                                 \
    })
