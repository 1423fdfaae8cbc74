#include "sim/query.hpp"

namespace pv::sim {

namespace {

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

std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size()) {
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        out.push_back(c);
        continue;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

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
      params.items_.emplace_back(form_decode(piece), std::string{});
    } else {
      params.items_.emplace_back(form_decode(piece.substr(0, eq)),
                                 form_decode(piece.substr(eq + 1)));
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
