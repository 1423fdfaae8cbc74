#pragma once
// A provider factory keyed by the setting's value (ASR_PROVIDER, MODEL_PROVIDER, TTS_PROVIDER).
//
// The built-in registries (asr/asr_registry.hpp, llm/llm_registry.hpp, tts/tts_registry.hpp)
// register the embedded providers; HTTP providers are added with add() where the backend is
// assembled, so this home never needs to know them. create() with a name nobody registered is a
// typed `config` error naming what is available, never a silent stand-in.
//
// Not synchronised: fill it, then use it (create() is const and may be called from any thread).

#include "cascade/provider_error.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace pv::cascade {

template <class Provider, class Settings>
class ProviderRegistry {
public:
  using Result = tl::expected<std::unique_ptr<Provider>, ProviderError>;
  using Factory = std::function<Result(const Settings&)>;

  // A concrete provider's create() result as a factory's Result.
  template <class Concrete>
  static Result upcast(tl::expected<std::unique_ptr<Concrete>, ProviderError> made) {
    if (!made) {
      return tl::unexpected(made.error());
    }
    return std::unique_ptr<Provider>(std::move(*made));
  }

  explicit ProviderRegistry(std::string setting_name) : setting_name_(std::move(setting_name)) {}

  // Registers (or replaces) the factory for `name` (matched case-insensitively).
  void add(std::string name, Factory factory) {
    factories_[lower(std::move(name))] = std::move(factory);
  }

  bool contains(std::string_view name) const {
    return factories_.count(lower(std::string(name))) != 0;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, factory] : factories_) {
      out.push_back(name);
    }
    return out;
  }

  Result create(std::string_view name, const Settings& settings) const {
    const auto it = factories_.find(lower(std::string(name)));
    if (it == factories_.end()) {
      std::string available;
      for (const auto& [known, factory] : factories_) {
        available += (available.empty() ? "" : ", ") + known;
      }
      return tl::unexpected(
          make_error(ProviderErrorKind::config,
                     setting_name_ + "='" + std::string(name) +
                         "' is not available in this build (available: " + available + ")"));
    }
    return it->second(settings);
  }

private:
  static std::string lower(std::string s) {
    for (char& c : s) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    return s;
  }

  std::string setting_name_;
  std::map<std::string, Factory> factories_;
};

} // namespace pv::cascade
