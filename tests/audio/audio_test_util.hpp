#pragma once
// Small helpers local to the audio tests: file bytes, hex vectors from the protocol document,
// scratch directories and running external tools with a timeout.

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace pv::audio::testutil {

inline std::filesystem::path testdata(const std::string& relative) {
  return std::filesystem::path(PV_TESTDATA_DIR) / relative;
}

inline std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// "4f 67 67 53 ..." -> bytes: whitespace is ignored and digits are read in pairs, so adjacent
// string literals may be concatenated without separators.
inline std::vector<uint8_t> hex(const std::string& text) {
  std::string digits;
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
      digits.push_back(c);
    } else {
      EXPECT_TRUE(std::isspace(static_cast<unsigned char>(c)) != 0) << "bad hex character " << c;
    }
  }
  EXPECT_EQ(digits.size() % 2, 0u) << "odd number of hex digits";
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// A fresh directory under the build tree, removed at the end of the test.
class ScratchDir {
public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::path(PV_BINARY_DIR) / "test-scratch" /
            ("audio-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1; // 124 = timed out (coreutils timeout)
  std::string output; // stdout + stderr
};

// Runs `command` through /bin/sh under `timeout`, capturing stdout and stderr.
inline CommandResult run_command(const std::string& command, int timeout_s = 60) {
  CommandResult result;
  std::string const wrapped =
      "timeout " + std::to_string(timeout_s) + " sh -c '" + command + "' 2>&1";
  FILE* pipe = ::popen(wrapped.c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), n);
  }
  int const status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Absolute path of a tool on PATH, or "" if it is not installed.
inline std::string find_tool(const std::string& name) {
  auto r = run_command("command -v " + name, 10);
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == '\r')) {
    r.output.pop_back();
  }
  return r.exit_code == 0 ? r.output : std::string();
}

} // namespace pv::audio::testutil
