#include "room/mock_room.hpp"

#include "audio/mixer.hpp"
#include "audio/resampler.hpp"
#include "audio/wav.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace pv::room {

namespace {

constexpr int kFrame48 = audio::samples_per_frame(audio::kRoomRateHz);

tl::expected<RoomEvent::Kind, std::string> parse_kind(const std::string& s) {
  using K = RoomEvent::Kind;
  for (K k : {K::participant_joined, K::participant_left, K::reaction, K::remaining_time,
              K::time_is_up, K::speaking_allowed}) {
    if (s == to_string(k)) {
      return k;
    }
  }
  return tl::make_unexpected("unknown room event kind '" + s + "'");
}

// Reads the optional sidecar with speech labels and scripted room events.
tl::expected<void, RoomError> read_labels(const std::filesystem::path& path, int64_t offset_ms,
                                          std::vector<SpeechSpan>& spans,
                                          std::vector<RoomEvent>& events) {
  std::ifstream in(path);
  if (!in) {
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = nlohmann::json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return tl::make_unexpected(
        RoomError{"mock room labels " + path.string() + " are not a JSON object"});
  }
  try {
    for (const auto& s : doc.value("speech", nlohmann::json::array())) {
      SpeechSpan span;
      span.start_ms = s.at("start_ms").get<int64_t>() + offset_ms;
      span.end_ms = s.at("end_ms").get<int64_t>() + offset_ms;
      span.text = s.value("text", "");
      if (span.end_ms < span.start_ms) {
        return tl::make_unexpected(RoomError{"mock room labels " + path.string() +
                                             ": a speech span ends before it starts"});
      }
      spans.push_back(std::move(span));
    }
    for (const auto& e : doc.value("room_events", nlohmann::json::array())) {
      auto kind = parse_kind(e.at("kind").get<std::string>());
      if (!kind) {
        return tl::make_unexpected(
            RoomError{"mock room labels " + path.string() + ": " + kind.error()});
      }
      RoomEvent ev{*kind, e.at("t_ms").get<int64_t>() + offset_ms, e.value("participant", ""),
                   e.value("detail", ""), e.value("value", 0.0)};
      events.push_back(std::move(ev));
    }
  } catch (const nlohmann::json::exception& ex) {
    return tl::make_unexpected(RoomError{"mock room labels " + path.string() + ": " + ex.what()});
  }
  std::sort(spans.begin(), spans.end(),
            [](const SpeechSpan& a, const SpeechSpan& b) { return a.start_ms < b.start_ms; });
  std::stable_sort(events.begin(), events.end(),
                   [](const RoomEvent& a, const RoomEvent& b) { return a.media_ms < b.media_ms; });
  return {};
}

tl::expected<void, RoomError> check_writable(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return tl::make_unexpected(RoomError{"cannot create the output directory " +
                                           path.parent_path().string() + ": " + ec.message()});
    }
  }
  auto probe = path;
  probe += ".probe";
  {
    std::ofstream out(probe, std::ios::binary | std::ios::trunc);
    if (!out) {
      return tl::make_unexpected(RoomError{"cannot write the mock room output " + path.string()});
    }
  }
  std::filesystem::remove(probe, ec);
  return {};
}

} // namespace

std::vector<SpeechSpan> estimate_speech_spans(const std::vector<int16_t>& samples,
                                              double threshold_dbfs) {
  constexpr int kJoinGapMs = 300;
  std::vector<SpeechSpan> spans;
  const std::size_t frames = samples.size() / kFrame48;
  for (std::size_t f = 0; f < frames; ++f) {
    std::span<const int16_t> frame(samples.data() + f * kFrame48, kFrame48);
    if (audio::rms_dbfs(frame) < threshold_dbfs) {
      continue;
    }
    const int64_t start = static_cast<int64_t>(f) * audio::kFrameMs;
    if (!spans.empty() && start - spans.back().end_ms <= kJoinGapMs) {
      spans.back().end_ms = start + audio::kFrameMs;
    } else {
      spans.push_back({start, start + audio::kFrameMs, {}});
    }
  }
  return spans;
}

MockRoom::MockRoom(const MockRoomParams& params, Timeline& timeline, audio::ClockSource& clock)
    : params_(params), timeline_(timeline), clock_(clock) {}

tl::expected<std::unique_ptr<MockRoom>, RoomError>
MockRoom::create(const MockRoomParams& params, Timeline& timeline, audio::ClockSource& clock) {
  std::unique_ptr<MockRoom> room(new MockRoom(params, timeline, clock));
  const std::size_t lead = static_cast<std::size_t>(
      audio::samples_for_ms(audio::kRoomRateHz, params.lead_in_ms) / kFrame48 * kFrame48);
  room->script_.assign(lead, 0);
  if (!params.input_wav.empty()) {
    auto wav = audio::read_wav(params.input_wav);
    if (!wav) {
      return tl::make_unexpected(RoomError{"mock room input: " + wav.error().message});
    }
    auto pcm = audio::resample_clip(*wav, audio::kRoomRateHz);
    if (!pcm) {
      return tl::make_unexpected(
          RoomError{"mock room input " + params.input_wav + ": " + pcm.error()});
    }
    room->script_.insert(room->script_.end(), pcm->samples.begin(), pcm->samples.end());
    const int64_t offset_ms = static_cast<int64_t>(lead) * 1000 / audio::kRoomRateHz;
    auto labels = std::filesystem::path(params.input_wav).replace_extension(".json");
    if (auto r = read_labels(labels, offset_ms, room->spans_, room->scripted_events_); !r) {
      return tl::make_unexpected(r.error());
    }
    if (room->spans_.empty()) {
      room->spans_ = estimate_speech_spans(room->script_, params.speech_threshold_dbfs);
    }
  }
  room->script_.resize(room->script_.size() + static_cast<std::size_t>(audio::samples_for_ms(
                                                  audio::kRoomRateHz, params.tail_ms)));
  // Whole frames only.
  room->script_.resize((room->script_.size() + kFrame48 - 1) / kFrame48 * kFrame48, 0);
  if (!params.output_wav.empty()) {
    if (auto r = check_writable(params.output_wav); !r) {
      return tl::make_unexpected(r.error());
    }
  }
  return room;
}

int64_t MockRoom::script_duration_ms() const {
  return static_cast<int64_t>(script_.size()) * 1000 / audio::kRoomRateHz;
}

int64_t MockRoom::media_time_ms() const {
  return tick_.load() * audio::kFrameMs;
}

void MockRoom::set_speaking(bool speaking) {
  if (speaking_.exchange(speaking) == speaking) {
    return;
  }
  timeline_.add_event(media_time_ms(),
                      speaking ? Timeline::kAgentSpeakingStart : Timeline::kAgentSpeakingStop);
}

tl::expected<void, RoomError> MockRoom::run(RoomHandler& handler, const std::atomic<bool>& stop) {
  const std::size_t script_frames = script_.size() / kFrame48;
  const std::size_t max_wait_frames =
      static_cast<std::size_t>(params_.max_wait_ms / audio::kFrameMs);
  recording_.clear();
  recording_.reserve((script_frames + max_wait_frames + 1) * kFrame48);

  audio::FrameClockParams clock_params;
  clock_params.speed = params_.speed;
  audio::FrameClock frame_clock(clock_, clock_params);

  audio::Frame inbound(audio::kRoomRateHz);
  audio::Frame outbound(audio::kRoomRateHz);
  std::size_t next_span_event = 0; // index into the 2*spans boundary sequence
  std::size_t next_room_event = 0;
  std::size_t waited_frames = 0;

  for (std::size_t k = 0; !stop.load(); ++k) {
    frame_clock.wait_next();
    tick_.store(static_cast<int64_t>(k));
    const int64_t now_ms = static_cast<int64_t>(k) * audio::kFrameMs;

    // Ground-truth user speech boundaries for the timeline.
    while (next_span_event < spans_.size() * 2) {
      const auto& span = spans_[next_span_event / 2];
      const bool is_start = next_span_event % 2 == 0;
      const int64_t at = is_start ? span.start_ms : span.end_ms;
      if (at > now_ms) {
        break;
      }
      nlohmann::json extra = nlohmann::json::object();
      if (is_start && !span.text.empty()) {
        extra["text"] = span.text;
      }
      timeline_.add_event(at, is_start ? Timeline::kUserSpeechStart : Timeline::kUserSpeechEnd,
                          std::move(extra));
      ++next_span_event;
    }
    while (next_room_event < scripted_events_.size() &&
           scripted_events_[next_room_event].media_ms <= now_ms) {
      const auto& ev = scripted_events_[next_room_event++];
      timeline_.add_event(ev.media_ms, std::string("room_") + to_string(ev.kind),
                          {{"detail", ev.detail}, {"value", ev.value}});
      handler.on_room_event(ev);
    }

    if (k < script_frames) {
      std::copy_n(script_.data() + k * kFrame48, kFrame48, inbound.samples().data());
    } else {
      inbound.clear_to_silence();
    }
    outbound.clear_to_silence();
    handler.on_audio_tick(inbound, outbound);
    if (!params_.output_wav.empty()) {
      recording_.insert(recording_.end(), outbound.samples().begin(), outbound.samples().end());
    }

    if (k + 1 >= script_frames) {
      if (handler.can_finish()) {
        break;
      }
      if (++waited_frames > max_wait_frames) {
        timeline_.add_event(
            now_ms, Timeline::kError,
            {{"kind", "mock_room_max_wait"},
             {"message", "the agent was still busy when MOCK_ROOM_MAX_WAIT_MS ran out"}});
        break;
      }
    }
  }
  tick_.fetch_add(1);

  if (!params_.output_wav.empty()) {
    audio::PcmBuffer pcm{audio::kRoomRateHz, recording_};
    if (auto w = audio::write_wav(params_.output_wav, pcm); !w) {
      return tl::make_unexpected(
          RoomError{"cannot write the agent recording: " + w.error().message});
    }
  }
  return {};
}

} // namespace pv::room
