#pragma once
// Query-string decoding the way the real PersonaPlex server sees it (aiohttp's request.query,
// built by yarl: parse_qsl with keep_blank_values): pairs split on '&', key and value split on the
// first '=', a piece without '=' is a key with an empty value, empty pieces are skipped, '+' is a
// space and %XX is a byte (an invalid escape is kept literally; net::percent_decode does exactly
// this). Keys are decoded too, so "se%65d" is "seed". Lookups return the first value of a
// repeated key, as MultiDict does.
//
// Stateless; callable from any thread.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pv::sim {

class QueryParams {
public:
  static QueryParams parse(std::string_view raw_query);

  bool contains(std::string_view key) const;
  // The first value for `key`, or nullopt if the key is absent (an empty value is "").
  std::optional<std::string> get(std::string_view key) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

private:
  std::vector<std::pair<std::string, std::string>> items_;
};

} // namespace pv::sim
