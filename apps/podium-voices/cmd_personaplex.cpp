// `podium-voices personaplex`: one exchange with any PersonaPlex server (the real one, a pool, or
// personaplex-sim), for checking a deployment by hand:
//
//   podium-voices personaplex --url https://gpu:8998 --in question.wav --out reply.wav
//
// Connects, waits for the handshake, streams the input (then silence) as the agent would, in real
// time (--fast: as fast as the server keeps up), until the model has answered and gone quiet
// (bounded by --max-reply-s), closes cleanly, writes everything the model said (48 kHz WAV), and
// prints the transcript and the timings. Exit codes: 0 answered, 2 bad arguments/configuration,
// 3 a typed session failure (printed), 4 no answer in time.

#include "audio/frame_clock.hpp"
#include "audio/mixer.hpp"
#include "audio/resampler.hpp"
#include "audio/vad_segmenter.hpp"
#include "audio/wav.hpp"
#include "commands.hpp"
#include "net/io_thread.hpp"
#include "personaplex/chat_request.hpp"
#include "personaplex/client_session.hpp"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <memory>
#include <thread>

namespace pv::apps {

namespace {

struct PersonaPlexCommand {
  std::string url;
  std::string in;
  std::string out;
  std::string mode = "duplex";
  std::string voice = "NATF2.pt";
  std::string prompt;
  std::string ca_file;
  bool insecure = false;
  bool fast = false;
  int quiet_ms = 1200;
  int max_reply_s = 30;
  int connect_timeout_ms = 10000;
  int handshake_timeout_ms = 300000;
  int no_audio_timeout_ms = 5000;
};

// The first user turn in `pcm` (any rate), as the turn mode would send it (16 kHz -> 24 kHz).
tl::expected<std::vector<int16_t>, std::string> first_utterance_24k(const audio::PcmBuffer& pcm) {
  auto speech = audio::resample_clip(pcm, audio::kSpeechRateHz);
  if (!speech) {
    return tl::unexpected(speech.error());
  }
  auto segmenter = audio::VadSegmenter::create({});
  if (!segmenter) {
    return tl::unexpected(segmenter.error().message);
  }
  audio::PcmBuffer utterance{audio::kSpeechRateHz, {}};
  auto& samples = speech->samples;
  samples.resize(samples.size() + static_cast<std::size_t>(audio::kSpeechRateHz), 0); // 1 s tail
  for (std::size_t i = 0; i + audio::kSegmenterFrameSamples <= samples.size();
       i += audio::kSegmenterFrameSamples) {
    auto event = segmenter->process(
        std::span<const int16_t>(samples.data() + i, audio::kSegmenterFrameSamples),
        static_cast<int64_t>(i / 16));
    if (event && event->kind == audio::SegmenterEvent::Kind::end_of_turn) {
      utterance.samples.assign(event->segment.begin(), event->segment.end());
      break;
    }
  }
  if (utterance.samples.empty()) {
    return tl::unexpected(std::string("no speech found in the input (VAD)"));
  }
  auto out = audio::resample_clip(utterance, audio::kPersonaPlexRateHz);
  if (!out) {
    return tl::unexpected(out.error());
  }
  return std::move(out->samples);
}

std::string ms_text(int64_t ms) {
  return ms < 0 ? std::string("-") : std::to_string(ms) + " ms";
}

int run(const PersonaPlexCommand& cmd, const std::atomic<bool>& stop) {
  using namespace personaplex;
  auto endpoint = chat_endpoint(cmd.url);
  if (!endpoint) {
    std::cerr << "personaplex: --url: " << endpoint.error().message << "\n";
    return 2;
  }
  auto voice = resolve_voice_prompt(cmd.voice);
  if (!voice) {
    std::cerr << "personaplex: --voice: " << voice.error().message << "\n";
    return 2;
  }
  if (!voice->warning.empty()) {
    std::cerr << "warning: " << voice->warning << "\n";
  }
  auto wav = audio::read_wav(cmd.in);
  if (!wav) {
    std::cerr << "personaplex: --in: " << wav.error().message << "\n";
    return 2;
  }
  std::vector<int16_t> input;
  if (cmd.mode == "turn") {
    auto utterance = first_utterance_24k(*wav);
    if (!utterance) {
      std::cerr << "personaplex: --in: " << utterance.error() << "\n";
      return 2;
    }
    input = std::move(*utterance);
  } else {
    auto resampled = audio::resample_clip(*wav, audio::kPersonaPlexRateHz);
    if (!resampled) {
      std::cerr << "personaplex: --in: " << resampled.error() << "\n";
      return 2;
    }
    input = std::move(resampled->samples);
  }

  ChatRequestParams request_params;
  request_params.endpoint = *endpoint;
  request_params.voice_file = voice->file_name;
  request_params.prompt =
      fixed_prompt_builder(cmd.prompt.empty() ? std::string(kDefaultTextPrompt) : cmd.prompt);
  request_params.prompt_variable = "--prompt";
  auto request = build_chat_request(request_params, {});
  if (!request) {
    std::cerr << "personaplex: " << request.error().message << "\n";
    return 2;
  }
  if (cmd.insecure) {
    std::cerr << "warning: --insecure: the server's TLS certificate and host name are NOT "
                 "verified\n";
  }

  const int64_t input_ms = static_cast<int64_t>(input.size()) * 1000 / audio::kPersonaPlexRateHz;
  SessionParams params;
  params.url = request->url;
  params.tls.verify = !cmd.insecure;
  params.tls.ca_file = cmd.ca_file;
  params.connect_timeout_ms = cmd.connect_timeout_ms;
  params.handshake_timeout_ms = cmd.handshake_timeout_ms;
  params.no_audio_timeout_ms = cmd.no_audio_timeout_ms;
  // Everything the model says is kept (no jitter bound): the buffer holds the whole exchange.
  params.playout_prebuffer_ms = 0;
  params.playout_max_ms = static_cast<int>(input_ms) + cmd.max_reply_s * 1000 + 5000;
  params.label = "cli";
  net::IoThread io("pv-pp-cli");
  auto created = ClientSession::create(io.context(), params);
  if (!created) {
    std::cerr << "personaplex: failed (" << conversation::to_string(created.error().kind)
              << "): " << created.error().message << "\n";
    return 3;
  }
  std::shared_ptr<ClientSession> session = std::move(*created);
  std::cout << "connecting to " << *endpoint << " (voice " << voice->file_name << ", "
            << request->text_prompt.size() << "-byte prompt, " << cmd.mode << " mode, " << input_ms
            << " ms of input)\n";
  session->start();

  audio::FrameClockParams clock_params;
  clock_params.speed = cmd.fast ? 0.0 : 1.0;
  audio::FrameClock clock(audio::SystemClock::instance(), clock_params);
  std::vector<int16_t> frame(kSendFrameSamples, 0);
  std::vector<int16_t> reply;
  std::vector<int16_t> chunk;
  std::size_t position = 0;
  int64_t sent_frames = 0;
  int64_t input_end_sample_48k = -1; // reply position where the input was fully sent
  int64_t last_audible_48k = -1;
  int64_t analysed = 0;
  const auto started = std::chrono::steady_clock::now();
  const int64_t frame_48k = audio::samples_per_frame(audio::kRoomRateHz);
  int result = 0;
  while (!stop.load()) {
    clock.wait_next();
    if (session->state() == SessionState::failed) {
      const auto error = session->error();
      std::cerr << "personaplex: failed (" << conversation::to_string(error->kind)
                << "): " << error->message << "\n";
      result = 3;
      break;
    }
    if (session->handshake_done()) {
      const auto received = session->counters().samples_received_24k;
      // --fast: never run more than 1 s ahead of the server (it is input-clocked).
      const bool ahead = cmd.fast && sent_frames * kSendFrameSamples - received > 24000;
      if (!ahead) {
        std::fill(frame.begin(), frame.end(), 0);
        for (std::size_t i = 0; i < frame.size() && position < input.size(); ++i) {
          frame[i] = input[position++];
        }
        if (session->send_frame_24k(frame) != ClientSession::SendResult::closed) {
          ++sent_frames;
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    const std::size_t available = session->playout().buffered_samples();
    if (available > 0) {
      chunk.resize(available);
      session->playout().pull(chunk);
      reply.insert(reply.end(), chunk.begin(), chunk.end());
    }
    // The reply is "answered and quiet" in the model's own time line (received samples).
    for (; analysed + frame_48k <= static_cast<int64_t>(reply.size()); analysed += frame_48k) {
      const auto window = std::span<const int16_t>(reply).subspan(
          static_cast<std::size_t>(analysed), static_cast<std::size_t>(frame_48k));
      if (audio::rms_dbfs(window) > -50.0) {
        last_audible_48k = analysed + frame_48k;
      }
    }
    if (input_end_sample_48k < 0 && position >= input.size() && session->handshake_done()) {
      input_end_sample_48k = static_cast<int64_t>(position) * 2; // 24k -> 48k
    }
    if (input_end_sample_48k >= 0) {
      const int64_t done_48k = static_cast<int64_t>(reply.size());
      const bool answered = last_audible_48k >= 0;
      const int64_t quiet_since = std::max(last_audible_48k, input_end_sample_48k);
      if (answered && done_48k - quiet_since >= int64_t{cmd.quiet_ms} * 48) {
        break;
      }
      if (done_48k - input_end_sample_48k >= int64_t{cmd.max_reply_s} * 48000) {
        std::cerr << "personaplex: no answer within " << cmd.max_reply_s
                  << " s after the input (--max-reply-s)\n";
        result = answered ? 0 : 4;
        break;
      }
    }
  }
  const auto total_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
  session->finish_stream();
  session->close();
  for (int i = 0; i < 400 && !session->ended(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto timings = session->timings();
  const auto counters = session->counters();
  const std::string transcript = session->transcript();
  session.reset();
  io.stop();

  if (!cmd.out.empty() && (result != 3 || !reply.empty())) {
    if (auto written = audio::write_wav(cmd.out, audio::PcmBuffer{audio::kRoomRateHz, reply});
        !written) {
      std::cerr << "personaplex: --out: " << written.error().message << "\n";
      return 2;
    }
  }
  std::cout << "transcript: " << (transcript.empty() ? "(none)" : transcript) << "\n";
  std::cout << "timings: connect " << ms_text(timings.connected_ms) << ", handshake "
            << ms_text(timings.handshake_ms) << ", first audio "
            << ms_text(timings.first_audible_ms) << ", total " << total_ms << " ms\n";
  std::cout << "audio: " << counters.pages_sent << " pages sent, " << counters.pages_received
            << " received, " << std::fixed << std::setprecision(1)
            << static_cast<double>(reply.size()) / audio::kRoomRateHz << " s written to " << cmd.out
            << "\n";
  return result;
}

} // namespace

void add_personaplex_command(CLI::App& app, const std::atomic<bool>& stop, int& exit_code) {
  auto cmd = std::make_shared<PersonaPlexCommand>();
  CLI::App* sub = app.add_subcommand(
      "personaplex", "One exchange with a PersonaPlex server: stream a WAV, record the reply");
  sub->add_option("--url", cmd->url, "Server: http(s)://host:8998 or ws(s)://host:8998")
      ->required();
  sub->add_option("--in", cmd->in, "What the user says (WAV, any rate)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--out", cmd->out, "Where the model's audio goes (48 kHz WAV)")->required();
  sub->add_option("--mode", cmd->mode,
                  "duplex: stream the whole input; turn: only its first utterance (VAD), as "
                  "PERSONAPLEX_MODE=turn does")
      ->check(CLI::IsMember({"duplex", "turn"}))
      ->capture_default_str();
  sub->add_option("--voice", cmd->voice, "Voice prompt (NATF0-3, NATM0-3, VARF0-4, VARM0-4)")
      ->capture_default_str();
  sub->add_option("--prompt", cmd->prompt, "Text prompt (default: the web UI's teacher prompt)");
  sub->add_option("--ca-file", cmd->ca_file, "Extra CA certificate to trust (PEM), e.g. mkcert's")
      ->check(CLI::ExistingFile);
  sub->add_flag("--insecure", cmd->insecure, "Do not verify the server's TLS certificate");
  sub->add_flag("--fast", cmd->fast,
                "Stream faster than real time (the server is input-clocked; keeps <= 1 s ahead)");
  sub->add_option("--quiet-ms", cmd->quiet_ms, "Model quiet this long after answering = done")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  sub->add_option("--max-reply-s", cmd->max_reply_s, "Give up this long after the input ends")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  sub->add_option("--connect-timeout-ms", cmd->connect_timeout_ms, "TCP + TLS + upgrade")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  sub->add_option("--handshake-timeout-ms", cmd->handshake_timeout_ms,
                  "Wait for the handshake (prompt phase, queue)")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  sub->add_option("--no-audio-timeout-ms", cmd->no_audio_timeout_ms,
                  "After the handshake, no server audio for this long is a failure")
      ->check(CLI::Range(500, 600000))
      ->capture_default_str();
  sub->callback([cmd, &stop, &exit_code] { exit_code = run(*cmd, stop); });
}

} // namespace pv::apps
