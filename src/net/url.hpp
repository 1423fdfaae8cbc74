#pragma once
// Parsing of the absolute URLs the network layer connects to (ws, wss, http, https), and
// percent-encoding helpers for query strings. Pure functions, any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pv::net {

struct Url {
  std::string scheme; // lower case: "ws", "wss", "http" or "https"
  std::string host;   // without brackets for IPv6 literals
  uint16_t port = 0;  // explicit or the scheme's default
  std::string target; // path + query, never empty ("/" at least); the fragment is dropped

  bool tls() const { return scheme == "wss" || scheme == "https"; }
  // "host" or "host:port" when the port is not the scheme default (IPv6 literals bracketed).
  std::string host_header() const;
  // The path part of target (before '?') and the raw query (after '?', without it).
  std::string_view path() const;
  std::string_view query() const;
};

struct UrlError {
  std::string message;
};

tl::expected<Url, UrlError> parse_url(std::string_view text);

// RFC 3986 percent-encoding of everything but unreserved characters (so '+' becomes %2B and a
// space %20: safe for aiohttp/yarl, which decode '+' as a space).
std::string percent_encode(std::string_view text);

// Decodes %XX escapes and, when `plus_as_space`, '+' as a space (form encoding). Invalid escapes
// are kept literally.
std::string percent_decode(std::string_view text, bool plus_as_space = true);

// The decoded value of the first `name=value` pair in a raw query string, if present.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

} // namespace pv::net
