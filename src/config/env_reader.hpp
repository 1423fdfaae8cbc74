#pragma once
// Typed reads of configuration variables with validation. Every read is recorded (name, effective
// value, default, origin, secret or not) so that `--check-config` can print the whole effective
// configuration and tests can check that .env.example documents every variable.
// Errors name the variable, the bad value and what is accepted.

#include "config/dotenv.hpp"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pv::config {

struct Diagnostic {
  enum class Severity { warning, error };
  Severity severity;
  std::string variable;
  std::string message; // complete sentence: variable, bad value, what is accepted
};

enum class Secret { no, yes };

struct VariableRecord {
  std::string name;
  std::string effective; // value in use (masked if secret)
  std::string default_value;
  ValueOrigin origin = ValueOrigin::unset;
  bool secret = false;
  std::string section;
};

// Masks a secret for display: "" -> "(unset)", otherwise "****" plus its length.
std::string mask_secret(std::string_view value);

class EnvReader {
public:
  explicit EnvReader(const EnvSource& source) : source_(source) {}

  // Subsequent reads are grouped under this section name (for --check-config output).
  void section(std::string name) { section_ = std::move(name); }

  std::string str(std::string_view name, std::string_view default_value,
                  Secret secret = Secret::no);
  // First variable in `names` that is set wins (aliases, e.g. MODEL_PROVIDER || LLM_PROVIDER).
  std::string str_any(std::initializer_list<std::string_view> names, std::string_view default_value,
                      Secret secret = Secret::no);
  std::optional<std::string> optional_str(std::string_view name, Secret secret = Secret::no);

  // Accepts true/false, 1/0, yes/no, on/off (any case). Empty = default.
  bool boolean(std::string_view name, bool default_value);
  int64_t integer(std::string_view name, int64_t default_value, int64_t min, int64_t max);
  std::optional<int64_t> optional_integer(std::string_view name, int64_t min, int64_t max);
  double number(std::string_view name, double default_value, double min, double max);

  // One of `accepted` (case-insensitive); returns the canonical spelling.
  std::string choice(std::string_view name, std::string_view default_value,
                     std::initializer_list<std::string_view> accepted);

  void error(std::string_view variable, std::string message);
  void warning(std::string_view variable, std::string message);

  bool is_set(std::string_view name) const;
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
  const std::vector<VariableRecord>& records() const { return records_; }
  bool has_errors() const;

private:
  std::optional<std::string> raw(std::string_view name) const;
  void record(std::string_view name, std::string_view effective, std::string_view default_value,
              bool secret);

  const EnvSource& source_;
  std::string section_;
  std::vector<Diagnostic> diagnostics_;
  std::vector<VariableRecord> records_;
};

} // namespace pv::config
