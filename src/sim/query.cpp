#include "sim/query.hpp"

#include "net/url.hpp"

namespace pv::sim {

QueryParams QueryParams::parse(std::string_view raw_query) {
  QueryParams params;
  while (!raw_query.empty()) {
    const std::size_t amp = raw_query.find('&');
    const std::string_view piece = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view{} : raw_query.substr(amp + 1);
    if (piece.empty()) {
      continue;
    }
    const std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      params.items_.emplace_back(net::percent_decode(piece), std::string{});
    } else {
      params.items_.emplace_back(net::percent_decode(piece.substr(0, eq)),
                                 net::percent_decode(piece.substr(eq + 1)));
    }
  }
  return params;
}

bool QueryParams::contains(std::string_view key) const {
  for (const auto& [name, value] : items_) {
    if (name == key) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> QueryParams::get(std::string_view key) const {
  for (const auto& [name, value] : items_) {
    if (name == key) {
      return value;
    }
  }
  return std::nullopt;
}

} // namespace pv::sim
