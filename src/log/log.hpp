#pragma once
// Logging: spdlog, readable text by default, JSON lines with LOG_FORMAT=json, optional LOG_FILE.
//
// Structured events (the names operators and harnesses grep for, e.g. TURN_METRICS) go through
// event(): in JSON mode their fields become top-level keys of the line, in text mode they are
// rendered as `EVENT key=value ...`.
//
// Secrets never reach a sink: every formatted line passes through redact(), which masks the
// registered secret values (API keys, tokens, HF_TOKEN) and common credential patterns
// (Bearer tokens, sk-/hf_ keys, key=/token= query parameters).

#include "config/general_settings.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace pv::log {

// Installs the default logger (stderr, plus LOG_FILE if set). Safe to call more than once.
// Returns an error message if LOG_FILE cannot be opened (the stderr sink still works).
std::string init(const config::LogSettings& settings, const std::vector<std::string>& secrets);

// Adds a value that must never appear in a log line (ignored if shorter than 4 characters).
void add_secret(std::string value);

// Masks secrets and credential patterns in `text`.
std::string redact(std::string_view text);

// Emits a structured event.
void event(spdlog::level::level_enum level, std::string_view name,
           const nlohmann::json& fields = nlohmann::json::object());

inline void info_event(std::string_view name,
                       const nlohmann::json& fields = nlohmann::json::object()) {
  event(spdlog::level::info, name, fields);
}
inline void warn_event(std::string_view name,
                       const nlohmann::json& fields = nlohmann::json::object()) {
  event(spdlog::level::warn, name, fields);
}
inline void error_event(std::string_view name,
                        const nlohmann::json& fields = nlohmann::json::object()) {
  event(spdlog::level::err, name, fields);
}

} // namespace pv::log
