// PersonaPlex client load: CPU per real-time duplex session with N concurrent sessions, as a
// ratio to the bare codec floor measured in the same run, plus the latency from a room frame's
// arrival to its bytes on the socket, and playout underruns/drops.
//
// Not a Google Benchmark: the load is real-time (a shared clock thread ticks every 20 ms with
// absolute deadlines and hands every session one 48 kHz room frame: DuplexBackend::on_room_frame
// then fill_agent_frame, the agent's real path), so it runs for fixed wall time and reports once.
//
// Separation: the server is the personaplex-sim binary in ANOTHER process (--max-sessions N), so
// getrusage(RUSAGE_SELF) over the measurement window is the client's CPU alone (the simulator's
// own CPU is read from /proc/<pid>/stat and reported separately).
//
// Latency ("probe" sessions): a few sessions connect through an in-process TCP relay on
// 127.0.0.1 that timestamps each client WebSocket message carrying an audio page as soon as its
// bytes are readable on the relay's socket. The clock thread timestamps each probe's
// on_room_frame call. After the handshake each call sends exactly one 20 ms page (48k -> 24k
// gives 480 samples per 960), so page i belongs to tick K + i; K is the most common value of
// "last tick before arrival(i)" - i. Latency = arrival(i) - tick(K + i). The relay's own thread
// CPU is subtracted from the client's CPU.
//
// Floors: "floor" is the codec work in a hot loop (bench_audio_duplex's figure: 48k -> 24k, Opus
// encode + Ogg page, decode, 24k -> 48k); "paced" is the same work for N chains run like the
// load (one frame each per 20 ms tick, sleeping in between: cold caches, timer wake-ups), so
// "x paced" is what the client adds beyond the codec itself.
//
//   cmake --build build-rel --target bench_personaplex_load personaplex-sim
//   build-rel/bench/bench_personaplex_load --sessions 1,10,50,100 --seconds 15 --complexity 5

#include "audio/frame.hpp"
#include "audio/ogg_opus.hpp"
#include "audio/opus_codec.hpp"
#include "audio/resampler.hpp"
#include "audio_signals.hpp"
#include "log/log.hpp"
#include "net/io_thread.hpp"
#include "personaplex/chat_request.hpp"
#include "personaplex/duplex_backend.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace {

using namespace pv;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

double seconds_of(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

double process_cpu_s() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
}

double clock_s(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// utime + stime of another process, in seconds.
double other_process_cpu_s(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')'); // the command name may contain spaces
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) {
      utime = std::stoll(field);
    } else if (i == 15) {
      stime = std::stoll(field);
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(at, values.size() - 1)];
}

// --- the simulator process
// ------------------------------------------------------------------------

class SimProcess {
public:
  SimProcess(const std::string& binary, int max_sessions, const std::string& log_file) {
    std::vector<std::string> args = {binary,
                                     "--host",
                                     "127.0.0.1",
                                     "--port",
                                     "0",
                                     "--max-sessions",
                                     std::to_string(max_sessions),
                                     "--prompt-step-ms",
                                     "1",
                                     "--voice-frames",
                                     "4",
                                     "--log-format",
                                     "json",
                                     "--log-level",
                                     "info"};
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe");
    }
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork");
    }
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlives the benchmark
      if (getppid() != parent) {
        _exit(127);
      }
      const int err = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (err < 0 || dup2(out[1], 1) < 0 || dup2(err, 2) < 0) {
        _exit(127);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c = 0;
    pollfd p{out[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos && poll(&p, 1, 30000) > 0 &&
           read(out[0], &c, 1) == 1) {
      line += c;
    }
    close(out[0]);
    const std::string prefix = "listening on 127.0.0.1:";
    if (line.rfind(prefix, 0) != 0) {
      throw std::runtime_error("personaplex-sim did not start: '" + line + "' (" + binary + ")");
    }
    port_ = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
  }
  ~SimProcess() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }

private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

int count_in_file(const std::string& file, const std::string& needle) {
  std::ifstream in(file);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    n += line.find(needle) != std::string::npos;
  }
  return n;
}

// --- the timestamping relay
// -----------------------------------------------------------------------

// One client connection relayed to the simulator. Client -> server bytes are parsed as HTTP
// upgrade request, then masked WebSocket frames; each binary message whose Ogg page has a
// non-zero granule position (an audio page, not a header page) records its arrival time.
class RelayConnection : public std::enable_shared_from_this<RelayConnection> {
public:
  RelayConnection(tcp::socket client, tcp::socket server, std::vector<Clock::time_point>& arrivals,
                  std::mutex& mutex)
      : client_(std::move(client)), server_(std::move(server)), arrivals_(arrivals), mutex_(mutex) {
  }

  void start() {
    pump(client_, server_, up_, true);
    pump(server_, client_, down_, false);
  }

private:
  void pump(tcp::socket& from, tcp::socket& to, std::array<uint8_t, 65536>& buffer, bool upward) {
    auto self = shared_from_this();
    from.async_read_some(
        asio::buffer(buffer), [this, self, &from, &to, &buffer,
                               upward](const boost::system::error_code& ec, std::size_t n) {
          if (ec) {
            boost::system::error_code ignored;
            to.shutdown(tcp::socket::shutdown_send, ignored);
            return;
          }
          const auto now = Clock::now();
          if (upward) {
            parse(std::span<const uint8_t>(buffer.data(), n), now);
          }
          asio::async_write(to, asio::buffer(buffer.data(), n),
                            [this, self, &from, &to, &buffer,
                             upward](const boost::system::error_code& wec, std::size_t) {
                              if (!wec) {
                                pump(from, to, buffer, upward);
                              }
                            });
        });
  }

  void parse(std::span<const uint8_t> bytes, Clock::time_point now) {
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    if (!upgraded_) {
      const std::string_view text(reinterpret_cast<const char*>(pending_.data()), pending_.size());
      const auto end = text.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        return;
      }
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(end + 4));
      upgraded_ = true;
    }
    for (;;) {
      if (pending_.size() < 2) {
        return;
      }
      const uint8_t opcode = pending_[0] & 0x0F;
      const bool masked = (pending_[1] & 0x80) != 0;
      uint64_t length = pending_[1] & 0x7F;
      std::size_t header = 2;
      if (length == 126) {
        if (pending_.size() < 4) {
          return;
        }
        length = (uint64_t{pending_[2]} << 8) | pending_[3];
        header = 4;
      } else if (length == 127) {
        if (pending_.size() < 10) {
          return;
        }
        length = 0;
        for (int i = 0; i < 8; ++i) {
          length = (length << 8) | pending_[2 + static_cast<std::size_t>(i)];
        }
        header = 10;
      }
      const std::size_t mask_at = header;
      header += masked ? 4 : 0;
      if (pending_.size() < header + length) {
        return;
      }
      if (opcode == 0x2 && length >= 1 + 14) { // 0x01 + Ogg header up to the granule
        std::array<uint8_t, 15> head{};
        for (std::size_t i = 0; i < head.size(); ++i) {
          const uint8_t key = masked ? pending_[mask_at + (i % 4)] : 0;
          head[i] = pending_[header + i] ^ key;
        }
        uint64_t granule = 0;
        for (int i = 7; i >= 0; --i) {
          granule = (granule << 8) | head[1 + 6 + static_cast<std::size_t>(i)];
        }
        if (head[0] == 0x01 && head[1] == 'O' && granule != 0) {
          std::lock_guard lock(mutex_);
          arrivals_.push_back(now);
        }
      }
      pending_.erase(pending_.begin(),
                     pending_.begin() + static_cast<std::ptrdiff_t>(header + length));
    }
  }

  tcp::socket client_;
  tcp::socket server_;
  std::array<uint8_t, 65536> up_{};
  std::array<uint8_t, 65536> down_{};
  std::vector<uint8_t> pending_;
  bool upgraded_ = false;
  std::vector<Clock::time_point>& arrivals_;
  std::mutex& mutex_;
};

// A listener per probe session (so arrivals are per session), all on one relay thread.
class Relay {
public:
  Relay(asio::io_context& io, uint16_t server_port)
      : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        server_port_(server_port) {
    accept();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<Clock::time_point> arrivals() const {
    std::lock_guard lock(mutex_);
    return arrivals_;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    arrivals_.clear();
  }

private:
  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket client) {
      if (ec) {
        return;
      }
      client.set_option(tcp::no_delay(true));
      tcp::socket server(io_);
      boost::system::error_code cec;
      server.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_port_), cec);
      if (!cec) {
        server.set_option(tcp::no_delay(true));
        std::make_shared<RelayConnection>(std::move(client), std::move(server), arrivals_, mutex_)
            ->start();
      }
      accept();
    });
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  uint16_t server_port_;
  mutable std::mutex mutex_;
  std::vector<Clock::time_point> arrivals_;
};

// --- the bare codec floor ---------------------------------------------------------------------

// CPU per 20 ms tick of: 48k -> 24k, Opus encode (Ogg page), Opus decode, 24k -> 48k. No I/O.
double codec_floor_us(int complexity, int frames) {
  auto down = *audio::FrameResampler::create({48000, 24000, 5});
  auto up = *audio::StreamResampler::create({24000, 48000, 5});
  auto encoder = *audio::OpusEncoder::create({24000, true, complexity, 0});
  auto decoder = *audio::OpusDecoder::create(24000);
  audio::OggOpusWriter writer(audio::standard_client_framing(1, 312));
  (void)writer.head_page();
  (void)writer.tags_page();
  const auto room = bench::voice_like_48k(6);
  audio::Frame in(48000);
  audio::Frame in24;
  std::vector<uint8_t> packet;
  std::vector<uint8_t> page;
  std::vector<int16_t> reply24;
  std::vector<int16_t> reply48;
  std::size_t pos = 0;
  std::vector<double> runs;
  for (int run = 0; run < 5; ++run) {
    const double start = clock_s(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < frames; ++i) {
      std::copy_n(room.begin() + static_cast<std::ptrdiff_t>(pos), 960, in.samples().begin());
      pos = (pos + 960) % room.size();
      down.push(in);
      if (down.pop(in24)) {
        (void)encoder.encode(in24.samples(), packet);
        writer.packet_page(packet, 480, page);
        reply24.clear();
        (void)decoder.decode(packet, reply24);
        reply48.clear();
        up.process(reply24, reply48);
      }
    }
    runs.push_back((clock_s(CLOCK_THREAD_CPUTIME_ID) - start) * 1e6 / frames);
  }
  return percentile(runs, 0.5);
}

// The same codec work for `sessions` independent chains, paced like the load (one frame per chain
// every 20 ms on one thread, absolute deadlines): what the floor costs when it runs in real time,
// with cold caches after every sleep. CPU per 20 ms frame per chain.
double paced_codec_floor_us(int sessions, int complexity, int seconds) {
  struct Chain {
    audio::FrameResampler down = *audio::FrameResampler::create({48000, 24000, 5});
    audio::StreamResampler up = *audio::StreamResampler::create({24000, 48000, 5});
    audio::OpusEncoder encoder;
    audio::OpusDecoder decoder = *audio::OpusDecoder::create(24000);
    audio::OggOpusWriter writer{audio::standard_client_framing(1, 312)};
    audio::Frame in24;
    std::vector<uint8_t> packet;
    std::vector<uint8_t> page;
    std::vector<int16_t> reply24;
    std::vector<int16_t> reply48;
    explicit Chain(int c) : encoder(*audio::OpusEncoder::create({24000, true, c, 0})) {}
  };
  std::vector<std::unique_ptr<Chain>> chains;
  for (int i = 0; i < sessions; ++i) {
    chains.push_back(std::make_unique<Chain>(complexity));
  }
  std::vector<int16_t> room = bench::voice_like_48k(3);
  room.resize(room.size() * 2, 0);
  audio::Frame in(48000);
  const int ticks = seconds * 50;
  const auto start = Clock::now();
  const double cpu0 = process_cpu_s();
  for (int k = 0; k < ticks; ++k) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(20 * k));
    for (std::size_t i = 0; i < chains.size(); ++i) {
      Chain& c = *chains[i];
      const std::size_t at =
          (static_cast<std::size_t>(k) * 960 + i * 137 * 48) % room.size() / 960 * 960;
      std::copy_n(room.begin() + static_cast<std::ptrdiff_t>(at), 960, in.samples().begin());
      c.down.push(in);
      if (c.down.pop(c.in24)) {
        (void)c.encoder.encode(c.in24.samples(), c.packet);
        c.writer.packet_page(c.packet, 480, c.page);
        c.reply24.clear();
        (void)c.decoder.decode(c.packet, c.reply24);
        c.reply48.clear();
        c.up.process(c.reply24, c.reply48);
      }
    }
  }
  return (process_cpu_s() - cpu0) * 1e6 / (static_cast<double>(ticks) * sessions);
}

// --- the load ---------------------------------------------------------------------------------

class CountingObserver : public conversation::BackendObserver {
public:
  void on_user_speech_start(int64_t) override {}
  void on_user_turn_end(uint64_t, int64_t) override { turns.fetch_add(1); }
  void on_barge_in(uint64_t, int64_t, double) override {}
  void on_turn_complete(conversation::TurnReport) override {}
  void on_error(const conversation::BackendError& error) override {
    errors.fetch_add(1);
    std::lock_guard lock(mutex);
    last_error = std::string(conversation::to_string(error.kind)) + ": " + error.message;
  }
  std::atomic<int> errors{0};
  std::atomic<int> turns{0};
  std::mutex mutex;
  std::string last_error;
};

struct LoadOptions {
  int sessions = 1;
  int seconds = 15;
  int warmup_s = 3;
  int complexity = 5;
  int probes = 4;
  bool io_per_session = false;
  int clock_threads = 1;
  std::string sim_binary;
  std::string work_dir;
};

struct LoadResult {
  double client_cpu_s = 0; // over the window, relay thread excluded
  double clock_thread_cpu_s = 0;
  double io_thread_cpu_s = -1; // shared io thread only
  double relay_cpu_s = 0;
  double sim_cpu_s = 0;
  double window_s = 0;
  int64_t ticks = 0;  // of clock 0 in the window
  int64_t frames = 0; // room frames handled in the window (all clocks)
  std::vector<double> lateness_ms;
  std::vector<double> latency_ms;
  int64_t underruns = 0;
  int64_t dropped_samples = 0;
  int errors = 0;
  int turns = 0;
  std::string last_error;
};

std::string chat_endpoint_for(uint16_t port) {
  return *personaplex::chat_endpoint("ws://127.0.0.1:" + std::to_string(port));
}

// Latencies of one probe: arrival(i) - tick(K + i), K the most common alignment.
void probe_latencies(const std::vector<Clock::time_point>& ticks,
                     const std::vector<Clock::time_point>& arrivals, std::vector<double>& out) {
  if (ticks.empty() || arrivals.empty()) {
    return;
  }
  std::map<std::ptrdiff_t, int> votes;
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    const auto after = std::upper_bound(ticks.begin(), ticks.end(), arrivals[i]);
    if (after == ticks.begin()) {
      continue;
    }
    const std::ptrdiff_t last = (after - ticks.begin()) - 1;
    ++votes[last - static_cast<std::ptrdiff_t>(i)];
  }
  if (votes.empty()) {
    return;
  }
  const std::ptrdiff_t k = std::max_element(votes.begin(), votes.end(), [](auto& a, auto& b) {
                             return a.second < b.second;
                           })->first;
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    const std::ptrdiff_t tick = k + static_cast<std::ptrdiff_t>(i);
    if (tick < 0 || tick >= static_cast<std::ptrdiff_t>(ticks.size())) {
      continue;
    }
    out.push_back(std::chrono::duration<double, std::milli>(arrivals[i] -
                                                            ticks[static_cast<std::size_t>(tick)])
                      .count());
  }
}

// One room clock: every 20 ms (absolute deadlines) each of its sessions gets its room frame and
// gives its agent frame. Shard 0 runs on the main thread and also steers the run.
struct ClockShard {
  std::vector<std::size_t> sessions;
  std::atomic<int64_t> ticks{0};
  std::atomic<clockid_t> cpu_clock{0};
  std::atomic<bool> measuring{false};
  std::mutex lateness_mutex;
  std::vector<double> lateness_ms; // while measuring
};

LoadResult run_load(const LoadOptions& o) {
  const std::string sim_log = o.work_dir + "/personaplex_load_sim.log";
  SimProcess sim(o.sim_binary, o.sessions, sim_log);

  net::IoThread relay_thread("bench-relay");
  std::atomic<clockid_t> relay_clock{0};
  std::atomic<clockid_t> io_clock{0};
  asio::post(relay_thread.context(), [&] {
    clockid_t id{};
    pthread_getcpuclockid(pthread_self(), &id);
    relay_clock.store(id);
  });
  const int probes = std::min(o.probes, o.sessions);
  std::vector<std::unique_ptr<Relay>> relays;
  for (int i = 0; i < probes; ++i) {
    relays.push_back(std::make_unique<Relay>(relay_thread.context(), sim.port()));
  }

  std::unique_ptr<net::IoThread> shared_io;
  if (!o.io_per_session) {
    shared_io = std::make_unique<net::IoThread>("bench-pp-io");
    asio::post(shared_io->context(), [&] {
      clockid_t id{};
      pthread_getcpuclockid(pthread_self(), &id);
      io_clock.store(id);
    });
  }

  // Sessions are dealt to the clocks round-robin; the probes (the first sessions) go to shard 0.
  const int shard_count = std::clamp(o.clock_threads, 1, o.sessions);
  std::vector<std::unique_ptr<ClockShard>> shards;
  for (int k = 0; k < shard_count; ++k) {
    shards.push_back(std::make_unique<ClockShard>());
  }
  for (int i = 0; i < o.sessions; ++i) {
    const int shard = i < probes ? 0 : i % shard_count;
    shards[static_cast<std::size_t>(shard)]->sessions.push_back(static_cast<std::size_t>(i));
  }

  CountingObserver observer;
  std::vector<std::unique_ptr<personaplex::DuplexBackend>> backends;
  for (int i = 0; i < o.sessions; ++i) {
    personaplex::BackendOptions options;
    options.endpoint =
        chat_endpoint_for(i < probes ? relays[static_cast<std::size_t>(i)]->port() : sim.port());
    options.voice_file = "NATF0.pt";
    options.prompt = personaplex::fixed_prompt_builder("You are a benchmark.");
    options.headers.push_back({"X-Session-Key", "bench:agent-" + std::to_string(i)});
    options.opus_complexity = o.complexity;
    options.session_max_s = 86400; // no context-window switch during the run
    options.no_audio_timeout_ms = 20000;
    options.handshake_timeout_ms = 60000;
    options.io = shared_io ? &shared_io->context() : nullptr;
    backends.push_back(std::make_unique<personaplex::DuplexBackend>(options));
  }
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  const auto media_ms = [start] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  };
  for (auto& b : backends) {
    if (!b->start(conversation::BackendContext{&observer, media_ms})) {
      throw std::runtime_error("a backend did not start");
    }
  }

  // Room audio: 3 s of voice, 3 s of silence (the simulator answers in the pauses), each session
  // at its own phase.
  std::vector<int16_t> room = bench::voice_like_48k(3);
  room.resize(room.size() * 2, 0);
  constexpr std::size_t kFrame = 960;
  std::vector<std::vector<Clock::time_point>> probe_ticks(static_cast<std::size_t>(probes));

  // One tick of one shard. Probe timestamps are taken right before each probe's on_room_frame.
  auto run_tick = [&](ClockShard& shard, int64_t tick, audio::Frame& in, audio::Frame& out) {
    const bool measuring = shard.measuring.load(std::memory_order_relaxed);
    for (const std::size_t i : shard.sessions) {
      const std::size_t at =
          (static_cast<std::size_t>(tick) * kFrame + i * 137 * 48) % room.size() / kFrame * kFrame;
      std::copy_n(room.begin() + static_cast<std::ptrdiff_t>(at), kFrame, in.samples().begin());
      if (i < probe_ticks.size() && measuring) {
        probe_ticks[i].push_back(Clock::now());
      }
      backends[i]->on_room_frame(in);
      out.clear_to_silence();
      backends[i]->fill_agent_frame(out);
    }
  };
  auto pace = [&](ClockShard& shard, int64_t tick) {
    const auto due = start + std::chrono::milliseconds(20 * tick);
    std::this_thread::sleep_until(due);
    if (shard.measuring.load(std::memory_order_relaxed)) {
      const double late = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
      std::lock_guard lock(shard.lateness_mutex);
      shard.lateness_ms.push_back(late);
    }
  };
  std::atomic<bool> stop{false};
  std::vector<std::thread> clock_threads;
  for (std::size_t k = 1; k < shards.size(); ++k) {
    clock_threads.emplace_back([&, k] {
      ClockShard& shard = *shards[k];
      clockid_t id{};
      pthread_getcpuclockid(pthread_self(), &id);
      shard.cpu_clock.store(id);
      audio::Frame in(48000);
      audio::Frame out(48000);
      for (int64_t tick = 0; !stop.load(); ++tick) {
        pace(shard, tick);
        run_tick(shard, tick, in, out);
        if (shard.measuring.load(std::memory_order_relaxed)) {
          shard.ticks.fetch_add(1);
        }
      }
    });
  }
  {
    clockid_t id{};
    pthread_getcpuclockid(pthread_self(), &id);
    shards[0]->cpu_clock.store(id);
  }

  LoadResult result;
  audio::Frame in(48000);
  audio::Frame out(48000);
  Clock::time_point window_start{};
  double cpu0 = 0, io0 = 0, relay0 = 0, sim0 = 0;
  std::vector<double> clock0(shards.size(), 0);
  int64_t underruns0 = 0, dropped0 = 0;
  auto playout_totals = [&](int64_t& underruns, int64_t& dropped) {
    underruns = 0;
    dropped = 0;
    for (const auto& b : backends) {
      const auto st = b->stats();
      underruns += st.underruns;
      dropped += st.dropped_samples;
    }
  };
  const auto ready_deadline = Clock::now() + std::chrono::seconds(60);
  std::optional<Clock::time_point> warm_until;
  bool measuring = false;
  for (int64_t tick = 0;; ++tick) {
    pace(*shards[0], tick);
    run_tick(*shards[0], tick, in, out);
    if (measuring) {
      shards[0]->ticks.fetch_add(1);
      if (Clock::now() - window_start >= std::chrono::seconds(o.seconds)) {
        break;
      }
      continue;
    }
    if (!warm_until && tick % 25 == 0 &&
        count_in_file(sim_log, "\"SIM_HANDSHAKE\"") >= o.sessions) {
      warm_until = Clock::now() + std::chrono::seconds(o.warmup_s);
    }
    if (!warm_until && Clock::now() > ready_deadline) {
      stop.store(true);
      for (auto& t : clock_threads) {
        t.join();
      }
      throw std::runtime_error("not every session got its handshake within 60 s");
    }
    if (warm_until && Clock::now() >= *warm_until) {
      measuring = true;
      for (auto& r : relays) {
        r->clear();
      }
      window_start = Clock::now();
      cpu0 = process_cpu_s();
      for (std::size_t k = 0; k < shards.size(); ++k) {
        clock0[k] = clock_s(shards[k]->cpu_clock.load());
        shards[k]->measuring.store(true);
      }
      io0 = io_clock.load() != 0 ? clock_s(io_clock.load()) : 0;
      relay0 = clock_s(relay_clock.load());
      sim0 = other_process_cpu_s(sim.pid());
      playout_totals(underruns0, dropped0);
    }
  }
  const double cpu1 = process_cpu_s();
  for (std::size_t k = 0; k < shards.size(); ++k) {
    shards[k]->measuring.store(false);
    result.clock_thread_cpu_s += clock_s(shards[k]->cpu_clock.load()) - clock0[k];
    result.frames += static_cast<int64_t>(shards[k]->sessions.size()) * shards[k]->ticks.load();
  }
  result.window_s = std::chrono::duration<double>(Clock::now() - window_start).count();
  if (io_clock.load() != 0) {
    result.io_thread_cpu_s = clock_s(io_clock.load()) - io0;
  }
  result.relay_cpu_s = clock_s(relay_clock.load()) - relay0;
  result.client_cpu_s = cpu1 - cpu0 - result.relay_cpu_s;
  result.sim_cpu_s = other_process_cpu_s(sim.pid()) - sim0;
  result.ticks = shards[0]->ticks.load();
  stop.store(true);
  for (auto& t : clock_threads) {
    t.join();
  }
  for (auto& shard : shards) {
    result.lateness_ms.insert(result.lateness_ms.end(), shard->lateness_ms.begin(),
                              shard->lateness_ms.end());
  }
  int64_t underruns1 = 0, dropped1 = 0;
  playout_totals(underruns1, dropped1);
  result.underruns = underruns1 - underruns0;
  result.dropped_samples = dropped1 - dropped0;
  for (int i = 0; i < probes; ++i) {
    probe_latencies(probe_ticks[static_cast<std::size_t>(i)],
                    relays[static_cast<std::size_t>(i)]->arrivals(), result.latency_ms);
  }
  for (auto& b : backends) {
    b->stop();
  }
  backends.clear();
  relay_thread.stop(); // before the relays it serves are destroyed
  result.errors = observer.errors.load();
  result.turns = observer.turns.load();
  result.last_error = observer.last_error;
  return result;
}

std::string default_sim_binary() {
  std::array<char, 4096> self{};
  const ssize_t n = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) {
    return "personaplex-sim";
  }
  std::string path(self.data(), static_cast<std::size_t>(n));
  path = path.substr(0, path.rfind('/')); // .../bench
  path = path.substr(0, path.rfind('/')); // the build dir
  return path + "/apps/personaplex-sim";
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"PersonaPlex client load: CPU per duplex session vs the codec floor, send latency"};
  std::vector<int> counts = {1, 10, 50, 100};
  LoadOptions options;
  options.sim_binary = default_sim_binary();
  options.work_dir = "/tmp";
  app.add_option("--sessions", counts, "Concurrent sessions, one run each")->delimiter(',');
  app.add_option("--seconds", options.seconds, "Measurement window per run")->capture_default_str();
  app.add_option("--warmup-s", options.warmup_s, "Warm-up after every handshake")
      ->capture_default_str();
  app.add_option("--complexity", options.complexity, "Client Opus encoder complexity (0..10)")
      ->check(CLI::Range(0, 10))
      ->capture_default_str();
  app.add_option("--probes", options.probes, "Sessions relayed for the latency measurement")
      ->capture_default_str();
  app.add_flag("--io-per-session", options.io_per_session,
               "Each backend owns its network thread (one process per agent) instead of one "
               "shared io thread");
  app.add_option("--clock-threads", options.clock_threads,
                 "Room clocks sharing the sessions (one clock thread serves at most ~20 ms of "
                 "work per tick)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--sim", options.sim_binary, "personaplex-sim binary")->capture_default_str();
  app.add_option("--work-dir", options.work_dir, "Where the simulator's log goes")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  log::init(config::LogSettings{"error", config::LogFormat::text, ""}, {});
  const double floor_us = codec_floor_us(options.complexity, 3000);
  std::printf("codec floor (48k->24k, Opus encode c%d + Ogg page, decode, 24k->48k): %.1f us per "
              "20 ms\n\n",
              options.complexity, floor_us);
  std::printf("%8s %8s %9s %8s %9s %9s %9s %8s %8s %7s %9s %9s %9s %8s %8s %6s\n", "sessions",
              "client%", "us/frame", "x floor", "ses/core", "clock us", "io us", "paced", "x paced",
              "sim%", "lat p50", "lat p99", "lat max", "underrun", "dropped", "errors");
  for (const int n : counts) {
    options.sessions = n;
    LoadResult r;
    try {
      r = run_load(options);
    } catch (const std::exception& e) {
      std::printf("%8d failed: %s\n", n, e.what());
      return 1;
    }
    const double paced_us = paced_codec_floor_us(n, options.complexity, 5);
    const double frames = static_cast<double>(r.frames);
    const double rate = static_cast<double>(r.ticks) / r.window_s;
    const double per_frame_us = r.client_cpu_s * 1e6 / frames;
    const double clock_us = r.clock_thread_cpu_s * 1e6 / frames;
    const double io_us = r.io_thread_cpu_s >= 0 ? r.io_thread_cpu_s * 1e6 / frames : -1;
    std::printf("%8d %7.1f%% %9.1f %8.2f %9.0f %9.1f %9.1f %8.1f %8.2f %6.1f%% %7.2fms %7.2fms "
                "%7.2fms %8lld %8lld %6d\n",
                n, 100.0 * r.client_cpu_s / r.window_s, per_frame_us, per_frame_us / floor_us,
                20000.0 / per_frame_us, clock_us, io_us, paced_us, per_frame_us / paced_us,
                100.0 * r.sim_cpu_s / r.window_s, percentile(r.latency_ms, 0.5),
                percentile(r.latency_ms, 0.99), percentile(r.latency_ms, 1.0),
                static_cast<long long>(r.underruns), static_cast<long long>(r.dropped_samples),
                r.errors);
    std::printf("         window %.1f s, %lld ticks (%.2f/s%s), tick lateness p99 %.2f ms max %.2f "
                "ms, relay thread %.1f ms CPU (excluded), %zu latency samples%s%s\n",
                r.window_s, static_cast<long long>(r.ticks), rate,
                rate < 49.5 ? ": NOT REAL TIME, the clock cannot keep up" : "",
                percentile(r.lateness_ms, 0.99), percentile(r.lateness_ms, 1.0),
                r.relay_cpu_s * 1e3, r.latency_ms.size(), r.errors > 0 ? ", last error: " : "",
                r.last_error.c_str());
    std::fflush(stdout);
  }
  return 0;
}
