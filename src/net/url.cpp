#include "net/url.hpp"

#include <algorithm>
#include <charconv>

namespace pv::net {

namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

uint16_t default_port(std::string_view scheme) {
  return (scheme == "wss" || scheme == "https") ? 443 : 80;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

} // namespace

std::string Url::host_header() const {
  std::string out;
  if (host.find(':') != std::string::npos) { // IPv6 literal
    out.push_back('[');
    out.append(host);
    out.push_back(']');
  } else {
    out = host;
  }
  if (port != default_port(scheme)) {
    out.push_back(':');
    out.append(std::to_string(port));
  }
  return out;
}

std::string_view Url::path() const {
  std::string_view t(target);
  return t.substr(0, t.find('?'));
}

std::string_view Url::query() const {
  std::string_view t(target);
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

tl::expected<Url, UrlError> parse_url(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return tl::unexpected(UrlError{"invalid URL '" + std::string(text) + "': " + why});
  };
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail("missing scheme (expected ws://, wss://, http:// or https://)");
  }
  Url url;
  url.scheme.resize(scheme_end);
  std::transform(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(scheme_end),
                 url.scheme.begin(), ascii_lower);
  if (url.scheme != "ws" && url.scheme != "wss" && url.scheme != "http" && url.scheme != "https") {
    return fail("unsupported scheme '" + url.scheme + "'");
  }
  std::string_view rest = text.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return fail("user information in URLs is not supported");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail("unterminated IPv6 literal");
    }
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return fail("unexpected characters after IPv6 literal");
      }
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
    }
  }
  if (url.host.empty()) {
    return fail("empty host");
  }
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return fail("invalid port '" + std::string(port_text) + "'");
    }
    url.port = static_cast<uint16_t>(value);
  } else {
    url.port = default_port(url.scheme);
  }
  tail = tail.substr(0, tail.find('#'));
  if (tail.empty() || tail.front() == '?') {
    url.target.push_back('/'); // (push_back/append: GCC 12 -Wrestrict false positive on assign)
    url.target.append(tail);
  } else {
    url.target = std::string(tail);
  }
  for (char c : url.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return fail("unencoded control character or space in path/query");
    }
  }
  return url;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  return out;
}

std::string percent_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_as_space && c == '+') ? ' ' : c;
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (percent_decode(key) == name) {
      return eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

} // namespace pv::net
