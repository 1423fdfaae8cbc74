#include "log/log.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <regex>
#include <shared_mutex>

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace pv::log {

namespace {

// Marks a message whose payload is a JSON object of event fields.
constexpr char kEventMarker = '\x1e';

struct SecretRegistry {
  std::shared_mutex mutex;
  std::vector<std::string> values;
};

// spdlog builds its registry (and the default logger) on first use. Building it during static
// initialisation, before any thread exists, means a first log line from an io thread never races
// that construction (libspdlog is not built with TSan, so its own guard is invisible to TSan).
[[maybe_unused]] const bool g_spdlog_ready = spdlog::default_logger_raw() != nullptr;

SecretRegistry& secrets() {
  static SecretRegistry registry;
  return registry;
}

const std::vector<std::pair<std::regex, std::string>>& patterns() {
  static const std::vector<std::pair<std::regex, std::string>> list = {
      {std::regex(R"((Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,})", std::regex::icase), "$1 ****"},
      {std::regex(R"(\bsk-[A-Za-z0-9_-]{8,})"), "sk-****"},
      {std::regex(R"(\bhf_[A-Za-z0-9]{8,})"), "hf_****"},
      {std::regex(
           R"(((?:api[_-]?key|token|access_token|key|secret|password|x-api-key|HF_TOKEN|HUGGINGFACE_API_KEY|Ocp-Apim-Subscription-Key)["']?\s*[=:]\s*["']?)[^\s&"',;}]+)",
           std::regex::icase),
       "$1****"},
  };
  return list;
}

std::string iso_time(std::chrono::system_clock::time_point tp) {
  auto t = std::chrono::system_clock::to_time_t(tp);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

std::string scalar_text(const nlohmann::json& v) {
  if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s.find_first_of(" \t\"=") != std::string::npos || s.empty()) {
      return nlohmann::json(s).dump();
    }
    return s;
  }
  return v.dump();
}

class Formatter final : public spdlog::formatter {
public:
  explicit Formatter(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string line;
    const bool is_event = !payload.empty() && payload.front() == kEventMarker;
    nlohmann::json fields;
    if (is_event) {
      fields = nlohmann::json::parse(payload.substr(1), nullptr, false);
      if (fields.is_discarded() || !fields.is_object()) {
        fields = nlohmann::json{{"msg", std::string(payload.substr(1))}};
      }
    }
    const auto level = spdlog::level::to_string_view(msg.level);
    if (json_) {
      nlohmann::json out;
      out["ts"] = iso_time(msg.time);
      out["level"] = std::string(level.data(), level.size());
      if (is_event) {
        for (auto it = fields.begin(); it != fields.end(); ++it) {
          out[it.key()] = it.value();
        }
      } else {
        out["msg"] = std::string(payload);
      }
      line = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = iso_time(msg.time) + " " + std::string(level.data(), level.size()) + " ";
      if (is_event) {
        line += fields.value("event", std::string("EVENT"));
        for (auto it = fields.begin(); it != fields.end(); ++it) {
          if (it.key() == "event") {
            continue;
          }
          line += " " + it.key() + "=" + scalar_text(it.value());
        }
      } else {
        line += std::string(payload);
      }
    }
    line = redact(line);
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<Formatter>(json_);
  }

private:
  bool json_;
};

} // namespace

void add_secret(std::string value) {
  if (value.size() < 4) {
    return;
  }
  auto& reg = secrets();
  std::unique_lock lock(reg.mutex);
  if (std::find(reg.values.begin(), reg.values.end(), value) == reg.values.end()) {
    reg.values.push_back(std::move(value));
    // Longest first, so a secret containing another is masked whole.
    std::sort(reg.values.begin(), reg.values.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }
}

std::string redact(std::string_view text) {
  std::string out(text);
  {
    auto& reg = secrets();
    std::shared_lock lock(reg.mutex);
    for (const auto& secret : reg.values) {
      for (auto pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos)) {
        out.replace(pos, secret.size(), "****");
        pos += 4;
      }
    }
  }
  for (const auto& [re, replacement] : patterns()) {
    out = std::regex_replace(out, re, replacement);
  }
  return out;
}

std::string init(const config::LogSettings& settings,
                 const std::vector<std::string>& secret_values) {
  for (const auto& s : secret_values) {
    add_secret(s);
  }
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  std::string error;
  if (!settings.file.empty()) {
    try {
      std::filesystem::path p(settings.file);
      if (p.has_parent_path()) {
        std::filesystem::create_directories(p.parent_path());
      }
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(settings.file, false));
    } catch (const std::exception& e) {
      error = "LOG_FILE='" + settings.file + "' cannot be opened: " + e.what();
    }
  }
  auto logger = std::make_shared<spdlog::logger>("podium-voices", sinks.begin(), sinks.end());
  logger->set_formatter(std::make_unique<Formatter>(settings.format == config::LogFormat::json));
  logger->set_level(spdlog::level::from_str(settings.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return error;
}

void event(spdlog::level::level_enum level, std::string_view name, const nlohmann::json& fields) {
  auto logger = spdlog::default_logger_raw();
  if (logger == nullptr || !logger->should_log(level)) {
    return;
  }
  nlohmann::json obj = nlohmann::json::object();
  obj["event"] = std::string(name);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      obj[it.key()] = it.value();
    }
  }
  std::string payload(1, kEventMarker);
  payload += obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  logger->log(level, payload);
}

} // namespace pv::log
