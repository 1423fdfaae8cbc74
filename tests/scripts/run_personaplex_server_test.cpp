// scripts/run-personaplex-server.sh, run for real with a fake `python3` on PATH that records the
// arguments, environment and working directory it was started with.

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

extern char** environ;

namespace {

namespace fs = std::filesystem;

const std::string kScript = std::string(PV_SOURCE_DIR) + "/scripts/run-personaplex-server.sh";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

class RunServerScript : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root = fs::temp_directory_path() / ("pv_runsrv_" + std::to_string(::getpid())) / info->name();
    fs::remove_all(root);
    fs::create_directories(root / "bin");
    fs::create_directories(root / "record");
    fs::create_directories(root / "personaplex");
    tmp = root / "tmp";
    fs::create_directories(tmp);
    // The fake interpreter: records everything, then exits (or sleeps if asked to).
    std::ofstream py(root / "bin" / "python3");
    py << "#!/bin/bash\n"
          "printf '%s\\n' \"$@\" > \"$RECORD_DIR/args\"\n"
          "{ echo \"HF_TOKEN=$HF_TOKEN\"; echo \"HF_HOME=$HF_HOME\";\n"
          "  echo \"HUGGINGFACE_HUB_CACHE=$HUGGINGFACE_HUB_CACHE\"; echo \"PWD=$PWD\"; } "
          "> \"$RECORD_DIR/env\"\n"
          "prev=''; for a in \"$@\"; do if [ \"$prev\" = --ssl ]; then "
          "[ -d \"$a\" ] && echo yes > \"$RECORD_DIR/ssl_existed\"; fi; prev=$a; done\n"
          "if [ -n \"$FAKE_SLEEP\" ]; then echo $$ > \"$RECORD_DIR/pid\"; exec sleep "
          "\"$FAKE_SLEEP\"; fi\n"
          "exit ${FAKE_EXIT:-0}\n";
    py.close();
    fs::permissions(root / "bin" / "python3", fs::perms::owner_all);
    env = {{"PATH", (root / "bin").string() + ":/usr/bin:/bin"},
           {"HOME", root.string()},
           {"TMPDIR", tmp.string()},
           {"RECORD_DIR", (root / "record").string()},
           {"ENV_FILE", (root / "env.local").string()}};
  }
  void TearDown() override { fs::remove_all(root); }

  void write_env_file(const std::string& text) { std::ofstream(root / "env.local") << text; }

  std::vector<std::string> envp() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : env) {
      out.push_back(k + "=" + v);
    }
    return out;
  }

  pid_t spawn(const std::vector<std::string>& args) {
    std::vector<std::string> argv_s = {"/bin/bash", kScript};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    auto e = envp();
    std::vector<char*> ep;
    for (auto& x : e) {
      ep.push_back(x.data());
    }
    ep.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, (root / "stdout").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, (root / "stderr").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, "/bin/bash", &fa, nullptr, argv.data(), ep.data()), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
  }

  // Waits up to `timeout` for the process; returns its exit code (or -1 on timeout/kill).
  int wait_exit(pid_t pid, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }

  int run(const std::vector<std::string>& args) { return wait_exit(spawn(args)); }

  std::map<std::string, std::string> recorded_env() const {
    std::map<std::string, std::string> out;
    for (const auto& line : lines_of(read_file(root / "record" / "env"))) {
      auto eq = line.find('=');
      out[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
  }
  std::vector<std::string> recorded_args() const {
    return lines_of(read_file(root / "record" / "args"));
  }
  std::string output() const { return read_file(root / "stdout") + read_file(root / "stderr"); }

  fs::path root;
  fs::path tmp;
  std::map<std::string, std::string> env;
};

TEST_F(RunServerScript, StartsTheServerWithTheTokenFromEnvLocalAndCleansTheTemporarySslDir) {
  write_env_file(
      "# written on Windows\r\nexport HF_TOKEN=\"hf_fromfile12345\"\r\nPERSONAPLEX_DIR=" +
      (root / "personaplex").string() + "\r\nHF_CACHE=" + (root / "cache").string() + "\r\n");
  ASSERT_EQ(run({}), 0) << output();
  const auto e = recorded_env();
  EXPECT_EQ(e.at("HF_TOKEN"), "hf_fromfile12345") << "CR must be stripped";
  EXPECT_EQ(e.at("HF_HOME"), (root / "cache").string());
  EXPECT_EQ(e.at("HUGGINGFACE_HUB_CACHE"), (root / "cache" / "hub").string());
  EXPECT_EQ(e.at("PWD"), (root / "personaplex").string());
  EXPECT_TRUE(fs::is_directory(root / "cache" / "hub"));

  const auto args = recorded_args();
  ASSERT_EQ(args.size(), 8u) << output();
  EXPECT_EQ(args[0], "-m");
  EXPECT_EQ(args[1], "moshi.server");
  EXPECT_EQ(args[2], "--ssl");
  EXPECT_EQ(fs::path(args[3]).parent_path(), tmp) << "a temporary SSL dir by default";
  EXPECT_EQ(args[4], "--host");
  EXPECT_EQ(args[5], "0.0.0.0");
  EXPECT_EQ(args[6], "--port");
  EXPECT_EQ(args[7], "8998");
  EXPECT_EQ(read_file(root / "record" / "ssl_existed"), "yes\n");
  EXPECT_FALSE(fs::exists(args[3])) << "the temporary SSL dir is removed on exit";
  EXPECT_EQ(output().find("hf_fromfile12345"), std::string::npos) << "the token is never printed";
}

TEST_F(RunServerScript, AcceptsHuggingfaceApiKeyPortAndCpuOffloadAndAGivenSslDir) {
  env["HUGGINGFACE_API_KEY"] = "hf_alt67890";
  env["PERSONAPLEX_DIR"] = (root / "personaplex").string();
  fs::create_directories(root / "certs");
  ASSERT_EQ(run({"--port", "9001", "--cpu-offload", "--ssl-dir", (root / "certs").string()}), 0)
      << output();
  EXPECT_EQ(recorded_env().at("HF_TOKEN"), "hf_alt67890");
  const auto args = recorded_args();
  const std::vector<std::string> expected = {
      "-m",     "moshi.server", "--ssl",        (root / "certs").string(), "--host", "0.0.0.0",
      "--port", "9001",         "--cpu-offload"};
  EXPECT_EQ(args, expected);
  EXPECT_TRUE(fs::is_directory(root / "certs")) << "a given SSL dir is kept";
}

TEST_F(RunServerScript, TheEnvironmentWinsOverTheFile) {
  write_env_file("HF_TOKEN=hf_file_token\nPERSONAPLEX_PORT=7000\nPERSONAPLEX_DIR=/nonexistent\n");
  env["HF_TOKEN"] = "hf_env_token";
  env["PERSONAPLEX_DIR"] = (root / "personaplex").string();
  ASSERT_EQ(run({}), 0) << output();
  EXPECT_EQ(recorded_env().at("HF_TOKEN"), "hf_env_token");
  EXPECT_EQ(recorded_args().back(), "7000") << "unset in the environment, so the file's port";
}

TEST_F(RunServerScript, MissingTokenIsAClearErrorAndPythonNeverRuns) {
  env["PERSONAPLEX_DIR"] = (root / "personaplex").string();
  EXPECT_EQ(run({}), 1);
  EXPECT_NE(output().find("HF_TOKEN is not set"), std::string::npos) << output();
  EXPECT_FALSE(fs::exists(root / "record" / "args"));
}

TEST_F(RunServerScript, MissingOrWrongCheckoutIsAClearError) {
  env["HF_TOKEN"] = "hf_x1234567";
  EXPECT_EQ(run({}), 1);
  EXPECT_NE(output().find("PERSONAPLEX_DIR is not set"), std::string::npos) << output();
  env["PERSONAPLEX_DIR"] = (root / "nope").string();
  EXPECT_EQ(run({}), 1);
  EXPECT_NE(output().find("does not exist"), std::string::npos) << output();
  EXPECT_NE(output().find("github.com/NVIDIA/personaplex"), std::string::npos);
  EXPECT_FALSE(fs::exists(root / "record" / "args"));
  EXPECT_EQ(run({"--port", "99999"}), 2);
}

TEST_F(RunServerScript, ServerExitCodeIsPassedThrough) {
  env["HF_TOKEN"] = "hf_x1234567";
  env["PERSONAPLEX_DIR"] = (root / "personaplex").string();
  env["FAKE_EXIT"] = "7";
  EXPECT_EQ(run({}), 7);
}

TEST_F(RunServerScript, SigtermStopsTheServerAndRemovesTheTemporarySslDir) {
  env["HF_TOKEN"] = "hf_x1234567";
  env["PERSONAPLEX_DIR"] = (root / "personaplex").string();
  env["FAKE_SLEEP"] = "60";
  const pid_t pid = spawn({});
  const auto pid_file = root / "record" / "pid";
  for (int i = 0; i < 1000 && !fs::exists(pid_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(fs::exists(pid_file)) << output();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const pid_t server = std::stoi(read_file(pid_file));
  const auto ssl_dir = recorded_args().at(3);
  ASSERT_TRUE(fs::exists(ssl_dir));
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, std::chrono::seconds(20)), 143);
  EXPECT_NE(::kill(server, 0), 0) << "the server process was stopped too";
  EXPECT_FALSE(fs::exists(ssl_dir));
}

} // namespace
