#pragma once
// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Pure function, any thread.

#include <chrono>
#include <optional>
#include <string_view>

namespace pv::net {

// The delay the server asks for, measured from `now`; nullopt when the value is malformed. An
// HTTP-date in the past gives zero.
std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view value,
                  std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

} // namespace pv::net
