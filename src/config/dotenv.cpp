#include "config/dotenv.hpp"

#include <cctype>
#include <fstream>
#include <sstream>

extern char** environ;

namespace pv::config {

std::string DotenvError::to_string() const {
  // Built with append(): GCC 12 -O3 reports a false -Wrestrict for `"literal" + std::string`.
  std::string out = file.empty() ? std::string("<env>") : file;
  if (line > 0) {
    out.append(":").append(std::to_string(line));
  }
  out.append(": ").append(message);
  return out;
}

namespace {

bool is_key_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool is_key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Parses the value part (after '='). Returns an error message on failure.
tl::expected<std::string, std::string> parse_value(std::string_view raw) {
  std::string_view v = trim(raw);
  if (v.empty()) {
    return std::string{};
  }
  const char quote = v.front();
  if (quote == '\'' || quote == '"') {
    std::string out;
    std::size_t i = 1;
    bool closed = false;
    for (; i < v.size(); ++i) {
      char c = v[i];
      if (c == quote) {
        closed = true;
        ++i;
        break;
      }
      if (quote == '"' && c == '\\' && i + 1 < v.size()) {
        char n = v[++i];
        switch (n) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '$':
          out += '$';
          break;
        default:
          out += '\\';
          out += n;
        }
        continue;
      }
      out += c;
    }
    if (!closed) {
      return tl::make_unexpected(std::string("unterminated ") +
                                 (quote == '"' ? "double" : "single") + " quote");
    }
    std::string_view rest = trim(v.substr(i));
    if (!rest.empty() && rest.front() != '#') {
      return tl::make_unexpected("unexpected text after the closing quote: '" + std::string(rest) +
                                 "'");
    }
    return out;
  }
  // Unquoted: an inline comment starts at " #" (a '#' preceded by whitespace).
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '#' && i > 0 && (v[i - 1] == ' ' || v[i - 1] == '\t')) {
      v = trim(v.substr(0, i));
      break;
    }
  }
  return std::string(v);
}

} // namespace

tl::expected<EnvMap, DotenvError> parse_dotenv(std::string_view text,
                                               const std::string& file_name) {
  EnvMap vars;
  int line_no = 0;
  std::size_t pos = 0;
  // Strip a UTF-8 byte order mark.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    pos = 3;
  }
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == '#') {
      if (end == text.size()) {
        break;
      }
      continue;
    }
    if (line.substr(0, 7) == "export " || line.substr(0, 7) == "export\t") {
      line = trim(line.substr(7));
    }
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return tl::make_unexpected(
          DotenvError{file_name, line_no, "expected KEY=VALUE, found '" + std::string(line) + "'"});
    }
    std::string_view key = trim(line.substr(0, eq));
    bool valid_key = !key.empty() && is_key_start(key.front());
    for (char c : key) {
      valid_key = valid_key && is_key_char(c);
    }
    if (!valid_key) {
      return tl::make_unexpected(
          DotenvError{file_name, line_no,
                      "invalid variable name '" + std::string(key) +
                          "' (letters, digits and '_', not starting with a digit)"});
    }
    auto value = parse_value(line.substr(eq + 1));
    if (!value) {
      return tl::make_unexpected(
          DotenvError{file_name, line_no, std::string(key) + ": " + value.error()});
    }
    vars.insert_or_assign(std::string(key), std::move(*value));
    if (end == text.size()) {
      break;
    }
  }
  return vars;
}

tl::expected<EnvMap, DotenvError> read_dotenv(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tl::make_unexpected(DotenvError{path.string(), 0, "cannot open the file"});
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return tl::make_unexpected(DotenvError{path.string(), 0, "cannot read the file"});
  }
  return parse_dotenv(ss.str(), path.string());
}

EnvSource::EnvSource(EnvMap file_vars, EnvMap process_vars, std::string file_name)
    : file_(std::move(file_vars)), process_(std::move(process_vars)),
      file_name_(std::move(file_name)) {}

EnvMap EnvSource::process_environment() {
  EnvMap vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    vars.insert_or_assign(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return vars;
}

tl::expected<EnvSource, DotenvError>
EnvSource::load(const std::optional<std::filesystem::path>& env_file) {
  EnvMap file_vars;
  std::string file_name;
  if (env_file) {
    auto parsed = read_dotenv(*env_file);
    if (!parsed) {
      return tl::make_unexpected(parsed.error());
    }
    file_vars = std::move(*parsed);
    file_name = env_file->string();
  } else if (std::error_code ec; std::filesystem::exists(".env.local", ec)) {
    auto parsed = read_dotenv(".env.local");
    if (!parsed) {
      return tl::make_unexpected(parsed.error());
    }
    file_vars = std::move(*parsed);
    file_name = ".env.local";
  }
  return EnvSource(std::move(file_vars), process_environment(), std::move(file_name));
}

void EnvSource::set_override(std::string key, std::string value) {
  overrides_.insert_or_assign(std::move(key), std::move(value));
}

std::optional<std::string> EnvSource::get(std::string_view key) const {
  if (auto it = overrides_.find(key); it != overrides_.end()) {
    return it->second;
  }
  if (auto it = process_.find(key); it != process_.end()) {
    return it->second;
  }
  if (auto it = file_.find(key); it != file_.end()) {
    return it->second;
  }
  return std::nullopt;
}

ValueOrigin EnvSource::origin(std::string_view key) const {
  if (overrides_.find(key) != overrides_.end()) {
    return ValueOrigin::command_line;
  }
  if (process_.find(key) != process_.end()) {
    return ValueOrigin::process_env;
  }
  if (file_.find(key) != file_.end()) {
    return ValueOrigin::env_file;
  }
  return ValueOrigin::unset;
}

} // namespace pv::config
