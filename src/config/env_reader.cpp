#include "config/env_reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace pv::config {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

std::string single_quoted(std::string_view v) {
  // append(): GCC 12 -O3 reports a false -Wrestrict for `"literal" + std::string`.
  std::string out;
  out.reserve(v.size() + 2);
  out.append("'").append(v).append("'");
  return out;
}

} // namespace

std::string mask_secret(std::string_view value) {
  if (value.empty()) {
    return "(unset)";
  }
  return "**** (" + std::to_string(value.size()) + " chars)";
}

std::optional<std::string> EnvReader::raw(std::string_view name) const {
  return source_.get(name);
}

bool EnvReader::is_set(std::string_view name) const {
  auto v = raw(name);
  return v && !trimmed(*v).empty();
}

void EnvReader::record(std::string_view name, std::string_view effective,
                       std::string_view default_value, bool secret) {
  VariableRecord r;
  r.name = std::string(name);
  r.effective = secret ? mask_secret(effective) : std::string(effective);
  r.default_value = secret ? std::string() : std::string(default_value);
  r.origin = source_.origin(name);
  r.secret = secret;
  r.section = section_;
  auto it = std::find_if(records_.begin(), records_.end(),
                         [&](const VariableRecord& x) { return x.name == r.name; });
  if (it != records_.end()) {
    *it = std::move(r);
  } else {
    records_.push_back(std::move(r));
  }
}

std::string EnvReader::str(std::string_view name, std::string_view default_value, Secret secret) {
  auto v = raw(name);
  std::string value = v ? trimmed(*v) : std::string();
  if (value.empty()) {
    value = std::string(default_value);
  }
  record(name, value, default_value, secret == Secret::yes);
  return value;
}

std::string EnvReader::str_any(std::initializer_list<std::string_view> names,
                               std::string_view default_value, Secret secret) {
  std::string value;
  for (auto name : names) {
    auto v = raw(name);
    std::string t = v ? trimmed(*v) : std::string();
    record(name, t.empty() && value.empty() ? std::string(default_value) : t, default_value,
           secret == Secret::yes);
    if (value.empty() && !t.empty()) {
      value = t;
    }
  }
  return value.empty() ? std::string(default_value) : value;
}

std::optional<std::string> EnvReader::optional_str(std::string_view name, Secret secret) {
  auto v = raw(name);
  std::string value = v ? trimmed(*v) : std::string();
  record(name, value, "", secret == Secret::yes);
  if (value.empty()) {
    return std::nullopt;
  }
  return value;
}

bool EnvReader::boolean(std::string_view name, bool default_value) {
  auto v = raw(name);
  std::string t = v ? lower(trimmed(*v)) : std::string();
  bool result = default_value;
  if (!t.empty()) {
    if (t == "true" || t == "1" || t == "yes" || t == "on") {
      result = true;
    } else if (t == "false" || t == "0" || t == "no" || t == "off") {
      result = false;
    } else {
      error(name, std::string(name) + "=" + single_quoted(*v) +
                      " is not a boolean; accepted: true/false, 1/0, yes/no, on/off");
    }
  }
  record(name, result ? "true" : "false", default_value ? "true" : "false", false);
  return result;
}

std::optional<int64_t> EnvReader::optional_integer(std::string_view name, int64_t min,
                                                   int64_t max) {
  auto v = raw(name);
  std::string t = v ? trimmed(*v) : std::string();
  if (t.empty()) {
    record(name, "", "", false);
    return std::nullopt;
  }
  int64_t parsed = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), parsed);
  if (ec != std::errc() || ptr != t.data() + t.size()) {
    error(name, std::string(name) + "=" + single_quoted(t) +
                    " is not an integer; accepted: an integer from " + std::to_string(min) +
                    " to " + std::to_string(max));
    record(name, "", "", false);
    return std::nullopt;
  }
  if (parsed < min || parsed > max) {
    error(name, std::string(name) + "=" + t + " is out of range; accepted: " + std::to_string(min) +
                    " to " + std::to_string(max));
    record(name, "", "", false);
    return std::nullopt;
  }
  record(name, t, "", false);
  return parsed;
}

int64_t EnvReader::integer(std::string_view name, int64_t default_value, int64_t min, int64_t max) {
  auto v = optional_integer(name, min, max);
  int64_t value = v.value_or(default_value);
  record(name, std::to_string(value), std::to_string(default_value), false);
  return value;
}

double EnvReader::number(std::string_view name, double default_value, double min, double max) {
  auto v = raw(name);
  std::string t = v ? trimmed(*v) : std::string();
  double value = default_value;
  auto fmt = [](double d) {
    std::string s = std::to_string(d);
    while (!s.empty() && s.back() == '0') {
      s.pop_back();
    }
    if (!s.empty() && s.back() == '.') {
      s.pop_back();
    }
    return s;
  };
  if (!t.empty()) {
    char* end = nullptr;
    double parsed = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() || !std::isfinite(parsed)) {
      error(name, std::string(name) + "=" + single_quoted(t) +
                      " is not a number; accepted: " + fmt(min) + " to " + fmt(max));
    } else if (parsed < min || parsed > max) {
      error(name, std::string(name) + "=" + t + " is out of range; accepted: " + fmt(min) + " to " +
                      fmt(max));
    } else {
      value = parsed;
    }
  }
  record(name, fmt(value), fmt(default_value), false);
  return value;
}

std::string EnvReader::choice(std::string_view name, std::string_view default_value,
                              std::initializer_list<std::string_view> accepted) {
  auto v = raw(name);
  std::string t = v ? trimmed(*v) : std::string();
  std::string value(default_value);
  if (!t.empty()) {
    auto l = lower(t);
    auto it = std::find_if(accepted.begin(), accepted.end(),
                           [&](std::string_view a) { return lower(a) == l; });
    if (it == accepted.end()) {
      std::string list;
      for (auto a : accepted) {
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      error(name,
            std::string(name) + "=" + single_quoted(t) + " is not recognised; accepted: " + list);
    } else {
      value = std::string(*it);
    }
  }
  record(name, value, default_value, false);
  return value;
}

void EnvReader::error(std::string_view variable, std::string message) {
  diagnostics_.push_back({Diagnostic::Severity::error, std::string(variable), std::move(message)});
}

void EnvReader::warning(std::string_view variable, std::string message) {
  diagnostics_.push_back(
      {Diagnostic::Severity::warning, std::string(variable), std::move(message)});
}

bool EnvReader::has_errors() const {
  return std::any_of(diagnostics_.begin(), diagnostics_.end(),
                     [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; });
}

} // namespace pv::config
