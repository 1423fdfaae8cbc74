#pragma once
// HTTP header lists shared by the WebSocket upgrade and the HTTP client. Names keep the case the
// peer sent; look-ups are case-insensitive (RFC 9110 §5.1).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pv::net {

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

bool iequals(std::string_view a, std::string_view b);

// The value of the first header called `name`, if any.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

} // namespace pv::net
