#pragma once
// `.env.local` files and the process environment, merged: a variable set in the process
// environment overrides the same variable in the file (as dotenv does).
//
// File syntax: KEY=VALUE per line; optional `export ` prefix; blank lines and `#` comment lines;
// unquoted values are trimmed and may end with ` # comment`; 'single quotes' are literal;
// "double quotes" understand \n \t \r \" \\ \$; CRLF line ends are accepted.
// A malformed line is an error that names the file and line (no silent skipping).

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pv::config {

struct DotenvError {
  std::string file;
  int line = 0; // 1-based; 0 = the file as a whole
  std::string message;
  std::string to_string() const;
};

using EnvMap = std::map<std::string, std::string, std::less<>>;

tl::expected<EnvMap, DotenvError> parse_dotenv(std::string_view text, const std::string& file_name);
tl::expected<EnvMap, DotenvError> read_dotenv(const std::filesystem::path& path);

enum class ValueOrigin { command_line, process_env, env_file, unset };

class EnvSource {
public:
  EnvSource() = default;
  // `file_vars` from a dotenv file, `process_vars` from the environment (they win).
  EnvSource(EnvMap file_vars, EnvMap process_vars, std::string file_name = {});

  // Reads `environ`, and the dotenv file: `env_file` if given (must exist), else `.env.local` in
  // the current directory if it exists.
  static tl::expected<EnvSource, DotenvError>
  load(const std::optional<std::filesystem::path>& env_file);

  // Snapshot of the current process environment.
  static EnvMap process_environment();

  // A command-line override: beats the environment and the file.
  void set_override(std::string key, std::string value);

  std::optional<std::string> get(std::string_view key) const;
  ValueOrigin origin(std::string_view key) const;
  const std::string& file_name() const { return file_name_; }

private:
  EnvMap file_;
  EnvMap process_;
  EnvMap overrides_;
  std::string file_name_;
};

} // namespace pv::config
