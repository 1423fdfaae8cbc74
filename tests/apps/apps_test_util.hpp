#pragma once
// Helpers for tests that run the agent's main job: a scratch directory, running a command, reading
// the timeline.

#include "support/command.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>
#include <unistd.h>

namespace pv::apps::testing {

struct ScratchDir {
  ScratchDir() {
    std::random_device rd;
    path = std::filesystem::path(PV_BINARY_DIR) / "test-scratch" /
           ("apps-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::filesystem::path path;
};

using pv::test::CommandResult;
using pv::test::run_command;

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, false);
}

inline const std::string& podium_voices() {
  static const std::string binary = std::string(PV_BINARY_DIR) + "/apps/podium-voices";
  return binary;
}

} // namespace pv::apps::testing
