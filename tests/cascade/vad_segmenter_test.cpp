#include "cascade/vad_segmenter.hpp"

#include "cascade_test_util.hpp"

#include <fstream>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pv::cascade {
namespace {

using testing::add_white_noise;
using testing::rms;
using testing::speak;
using testing::trimmed;

constexpr int kRate = 16000;
constexpr int kFrame = 320;

struct Span {
  int64_t start_ms;
  int64_t end_ms;
};

struct Labelled {
  std::vector<int16_t> pcm;
  std::vector<Span> speech; // ground truth: where audible speech was placed
};

// Builds the signal described by testdata/cascade/vad_scenario.json: leading silence, then each
// utterance (flite speech trimmed to its audible part) followed by its gap. Labels come from the
// placement, so they are exact by construction.
Labelled build_scenario() {
  std::ifstream in(std::string(PV_TESTDATA_DIR) + "/cascade/vad_scenario.json");
  EXPECT_TRUE(in.good());
  const auto scenario = nlohmann::json::parse(in);
  Labelled out;
  auto append_silence = [&](int ms) {
    out.pcm.insert(out.pcm.end(), ms * kRate / 1000, 0);
  };
  append_silence(scenario["lead_silence_ms"].get<int>());
  for (const auto& u : scenario["utterances"]) {
    const auto speech = trimmed(speak(u["text"].get<std::string>()).samples);
    EXPECT_FALSE(speech.empty());
    const int64_t start = static_cast<int64_t>(out.pcm.size()) * 1000 / kRate;
    out.pcm.insert(out.pcm.end(), speech.begin(), speech.end());
    const int64_t end = static_cast<int64_t>(out.pcm.size()) * 1000 / kRate;
    out.speech.push_back({start, end});
    append_silence(u["gap_after_ms"].get<int>());
  }
  // Whole frames only.
  out.pcm.resize(out.pcm.size() / kFrame * kFrame);
  return out;
}

double speech_rms(const Labelled& l) {
  double sum = 0;
  std::size_t n = 0;
  for (const auto& s : l.speech) {
    for (int64_t i = s.start_ms * 16; i < s.end_ms * 16; ++i) {
      sum += static_cast<double>(l.pcm[static_cast<std::size_t>(i)]) *
             l.pcm[static_cast<std::size_t>(i)];
      ++n;
    }
  }
  return std::sqrt(sum / static_cast<double>(n));
}

struct Turn {
  SegmenterEvent::Kind kind;
  int64_t segment_start_ms;
  int64_t speech_start_ms;
  int64_t speech_end_ms;
  int64_t emitted_at_ms; // end of the frame that produced the event
  SegmentEndReason reason;
  std::vector<int16_t> segment;
};

struct SegRun {
  std::vector<Turn> turns;     // end_of_turn and discarded events
  std::vector<int64_t> starts; // speech_start events (speech_start_ms)
  std::vector<bool> frame_speech;
};

SegRun run(VadSegmenter& seg, const std::vector<int16_t>& pcm) {
  SegRun r;
  for (std::size_t i = 0; i + kFrame <= pcm.size(); i += kFrame) {
    const int64_t t = static_cast<int64_t>(i) * 1000 / kRate;
    auto ev = seg.process(std::span<const int16_t>(pcm.data() + i, kFrame), t);
    EXPECT_TRUE(ev);
    if (!ev) {
      return r;
    }
    r.frame_speech.push_back(ev->frame_is_speech);
    if (ev->kind == SegmenterEvent::Kind::speech_start) {
      r.starts.push_back(ev->speech_start_ms);
    } else if (ev->kind != SegmenterEvent::Kind::none) {
      r.turns.push_back({ev->kind, ev->segment_start_ms, ev->speech_start_ms, ev->speech_end_ms,
                         t + 20, ev->reason,
                         std::vector<int16_t>(ev->segment.begin(), ev->segment.end())});
    }
  }
  return r;
}

struct FrameStats {
  double accuracy;
  double speech_recall;     // labelled-speech frames detected as speech
  double silence_rejection; // labelled-silence frames detected as non-speech
};

FrameStats frame_stats(const Labelled& l, const std::vector<bool>& decided) {
  int correct = 0;
  int speech_frames = 0;
  int speech_hit = 0;
  int silence_frames = 0;
  int silence_hit = 0;
  for (std::size_t f = 0; f < decided.size(); ++f) {
    const int64_t a = static_cast<int64_t>(f) * 20;
    const int64_t b = a + 20;
    bool label = false;
    for (const auto& s : l.speech) {
      label = label || (a < s.end_ms && b > s.start_ms);
    }
    correct += decided[f] == label ? 1 : 0;
    if (label) {
      ++speech_frames;
      speech_hit += decided[f] ? 1 : 0;
    } else {
      ++silence_frames;
      silence_hit += decided[f] ? 0 : 1;
    }
  }
  return {static_cast<double>(correct) / static_cast<double>(decided.size()),
          static_cast<double>(speech_hit) / speech_frames,
          static_cast<double>(silence_hit) / silence_frames};
}

// Every labelled span is exactly one turn, started within ±100 ms of the label, ended (emitted)
// within silence_ms + 100 ms of the label's end; no turn outside the spans.
void expect_turns_match_labels(const Labelled& l, const SegRun& r, const VadSegmenterParams& p,
                               const std::string& what) {
  std::vector<const Turn*> turns;
  for (const auto& t : r.turns) {
    EXPECT_EQ(t.kind, SegmenterEvent::Kind::end_of_turn)
        << what << ": unexpected discarded segment at " << t.speech_start_ms;
    turns.push_back(&t);
  }
  ASSERT_EQ(turns.size(), l.speech.size()) << what;
  for (std::size_t i = 0; i < l.speech.size(); ++i) {
    const auto& label = l.speech[i];
    const auto& t = *turns[i];
    EXPECT_NEAR(t.speech_start_ms, label.start_ms, 100) << what << " utterance " << i;
    EXPECT_LE(t.emitted_at_ms - label.end_ms, p.silence_ms + 100) << what << " utterance " << i;
    EXPECT_GE(t.emitted_at_ms, label.end_ms) << what << " utterance " << i;
    EXPECT_NEAR(t.speech_end_ms, label.end_ms, 100) << what << " utterance " << i;
    EXPECT_EQ(t.reason, SegmentEndReason::silence);
    // Pre-roll: the segment starts before the labelled onset and holds the onset's samples.
    EXPECT_LE(t.segment_start_ms, label.start_ms) << what;
    const int64_t offset = (label.start_ms - t.segment_start_ms) * 16;
    ASSERT_GE(offset, 0);
    ASSERT_LT(static_cast<std::size_t>(offset + 320), t.segment.size());
    for (int k = 0; k < 320; ++k) {
      ASSERT_EQ(t.segment[static_cast<std::size_t>(offset + k)],
                l.pcm[static_cast<std::size_t>(label.start_ms * 16 + k)])
          << what << ": pre-roll does not hold the onset of utterance " << i;
    }
  }
}

TEST(VadSegmenter, LabelledSpeechCleanAndInWhiteNoise) {
  const Labelled clean = build_scenario();
  ASSERT_EQ(clean.speech.size(), 4U);
  const double s_rms = speech_rms(clean);
  // Each case: SNR of white noise against the speech RMS (none = clean) and the energy gate, set
  // as an operator would: above the room's noise floor (here 300, or ~1.4x the noise RMS).
  struct Case {
    const char* name;
    double snr_db; // < 0: no noise
    int energy_threshold;
  };
  for (const Case c : {Case{"clean", -1, 300}, Case{"snr20", 20, 300}, Case{"snr10", 10, 600}}) {
    Labelled l = clean;
    double noise_rms = 0;
    if (c.snr_db >= 0) {
      noise_rms = s_rms / std::pow(10.0, c.snr_db / 20.0);
      add_white_noise(l.pcm, noise_rms, 1234);
    }
    VadSegmenterParams p;
    p.energy_threshold = c.energy_threshold;
    auto seg = VadSegmenter::create(p);
    ASSERT_TRUE(seg);
    const SegRun r = run(*seg, l.pcm);
    expect_turns_match_labels(l, r, p, c.name);
    const FrameStats fs = frame_stats(l, r.frame_speech);
    std::cout << "[vad accuracy] " << c.name << " speech_rms=" << std::lround(s_rms)
              << " noise_rms=" << std::lround(noise_rms) << " frames=" << r.frame_speech.size()
              << " accuracy=" << fs.accuracy << " speech_recall=" << fs.speech_recall
              << " silence_rejection=" << fs.silence_rejection << "\n";
    ::testing::Test::RecordProperty(std::string(c.name) + "_frame_accuracy",
                                    std::to_string(fs.accuracy));
    EXPECT_GT(fs.accuracy, 0.80) << c.name;
    EXPECT_GT(fs.silence_rejection, 0.97) << c.name;
  }
}

TEST(VadSegmenter, AClickIsNotATurn) {
  auto seg = VadSegmenter::create({});
  ASSERT_TRUE(seg);
  std::vector<int16_t> pcm(16000 * 2, 0);
  // A 20 ms full-scale click (noise burst) at 500 ms, then silence.
  std::vector<int16_t> click(320);
  std::mt19937 rng(7);
  for (auto& s : click) {
    s = static_cast<int16_t>(std::uniform_int_distribution<int>(-30000, 30000)(rng));
  }
  std::copy(click.begin(), click.end(), pcm.begin() + 8000);
  const SegRun r = run(*seg, pcm);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_TRUE(r.turns.empty());
}

TEST(VadSegmenter, ShortBurstBelowMinSpeechIsDiscarded) {
  VadSegmenterParams p;
  p.min_speech_ms = 1000; // longer than the word below
  auto seg = VadSegmenter::create(p);
  ASSERT_TRUE(seg);
  auto word = trimmed(speak("Yes.").samples);
  ASSERT_LT(word.size(), 16000U);
  std::vector<int16_t> pcm(8000, 0);
  pcm.insert(pcm.end(), word.begin(), word.end());
  pcm.insert(pcm.end(), 16000, 0);
  pcm.resize(pcm.size() / kFrame * kFrame);
  const SegRun r = run(*seg, pcm);
  ASSERT_EQ(r.starts.size(), 1U) << "the word is long enough to start a segment";
  ASSERT_EQ(r.turns.size(), 1U);
  EXPECT_EQ(r.turns[0].kind, SegmenterEvent::Kind::discarded);
}

TEST(VadSegmenter, LongMonologueIsCutAtMaxSegment) {
  VadSegmenterParams p;
  p.max_segment_ms = 3000;
  auto seg = VadSegmenter::create(p);
  ASSERT_TRUE(seg);
  // ~10 s of continuous speech: sentences back to back without pauses long enough to end a turn.
  std::vector<int16_t> pcm(3200, 0);
  while (pcm.size() < 16000U * 10) {
    auto s =
        trimmed(speak("We keep talking about the weather and the lights in the kitchen").samples);
    pcm.insert(pcm.end(), s.begin(), s.end());
  }
  const std::size_t speech_end = pcm.size();
  pcm.insert(pcm.end(), 16000, 0);
  pcm.resize(pcm.size() / kFrame * kFrame);
  const SegRun r = run(*seg, pcm);
  ASSERT_GE(r.turns.size(), 3U);
  std::size_t cuts = 0;
  for (const auto& t : r.turns) {
    EXPECT_EQ(t.kind, SegmenterEvent::Kind::end_of_turn);
    if (t.reason == SegmentEndReason::max_length) {
      ++cuts;
      // A cut segment is exactly max_segment_ms long (pre-roll included).
      EXPECT_EQ(static_cast<int64_t>(t.segment.size()), p.max_segment_ms * 16LL);
    }
    EXPECT_LE(static_cast<int64_t>(t.segment.size()), p.max_segment_ms * 16LL);
  }
  EXPECT_GE(cuts, 2U);
  EXPECT_EQ(r.turns.back().reason, SegmentEndReason::silence);
  // No audio lost across cuts: the cut segments and the last one tile the speech.
  int64_t covered_until = r.turns.front().segment_start_ms;
  for (const auto& t : r.turns) {
    EXPECT_LE(t.segment_start_ms, covered_until + 100) << "gap between consecutive segments";
    covered_until = t.segment_start_ms + static_cast<int64_t>(t.segment.size()) / 16;
  }
  EXPECT_GE(covered_until, static_cast<int64_t>(speech_end) / 16 - 100);
}

TEST(VadSegmenter, EnergyGateRejectsQuietSpeech) {
  auto speech = trimmed(speak("The quick brown fox jumps over the lazy dog.").samples);
  for (auto& s : speech) {
    s = static_cast<int16_t>(s / 40); // far below the gate
  }
  std::vector<int16_t> pcm(8000, 0);
  pcm.insert(pcm.end(), speech.begin(), speech.end());
  pcm.insert(pcm.end(), 16000, 0);
  pcm.resize(pcm.size() / kFrame * kFrame);
  VadSegmenterParams gated;
  gated.energy_threshold = 300;
  auto seg = VadSegmenter::create(gated);
  ASSERT_TRUE(seg);
  EXPECT_TRUE(run(*seg, pcm).turns.empty());
  VadSegmenterParams open;
  open.energy_threshold = 0;
  auto seg_open = VadSegmenter::create(open);
  ASSERT_TRUE(seg_open);
  EXPECT_EQ(run(*seg_open, pcm).turns.size(), 1U) << "the VAD alone hears it";
}

TEST(VadSegmenter, SegmentSpanIsTrimmedAfterTheLastSpeechFrame) {
  VadSegmenterParams p;
  p.silence_ms = 800;
  p.trailing_keep_ms = 100;
  auto seg = VadSegmenter::create(p);
  ASSERT_TRUE(seg);
  auto speech = trimmed(speak("Good morning everyone.").samples);
  std::vector<int16_t> pcm(16000, 0);
  pcm.insert(pcm.end(), speech.begin(), speech.end());
  pcm.insert(pcm.end(), 32000, 0);
  pcm.resize(pcm.size() / kFrame * kFrame);
  const SegRun r = run(*seg, pcm);
  ASSERT_EQ(r.turns.size(), 1U);
  const auto& t = r.turns[0];
  const int64_t seg_end_ms = t.segment_start_ms + static_cast<int64_t>(t.segment.size()) / 16;
  EXPECT_LE(seg_end_ms, t.speech_end_ms + 100);
  EXPECT_GE(seg_end_ms, t.speech_end_ms);
  EXPECT_GE(t.emitted_at_ms - t.speech_end_ms, 800);
}

TEST(VadSegmenter, StreamingFramesMatchTheFinalSegment) {
  // What an orchestrator streams to ASR (speech_start's segment, then every in-segment frame)
  // is the final segment's audio, in order.
  auto seg = VadSegmenter::create({});
  ASSERT_TRUE(seg);
  auto speech = trimmed(speak("Please turn on the lights in the kitchen.").samples);
  std::vector<int16_t> pcm(16000, 0);
  pcm.insert(pcm.end(), speech.begin(), speech.end());
  pcm.insert(pcm.end(), 16000, 0);
  pcm.resize(pcm.size() / kFrame * kFrame);
  std::vector<int16_t> streamed;
  std::vector<int16_t> final_segment;
  for (std::size_t i = 0; i + kFrame <= pcm.size(); i += kFrame) {
    auto ev = seg->process(std::span<const int16_t>(pcm.data() + i, kFrame),
                           static_cast<int64_t>(i / 16));
    ASSERT_TRUE(ev);
    if (ev->kind == SegmenterEvent::Kind::speech_start) {
      streamed.assign(ev->segment.begin(), ev->segment.end());
    } else if (ev->frame_in_segment) {
      streamed.insert(streamed.end(), pcm.begin() + static_cast<std::ptrdiff_t>(i),
                      pcm.begin() + static_cast<std::ptrdiff_t>(i + kFrame));
    }
    if (ev->kind == SegmenterEvent::Kind::end_of_turn) {
      final_segment.assign(ev->segment.begin(), ev->segment.end());
    }
  }
  ASSERT_FALSE(final_segment.empty());
  ASSERT_GE(streamed.size(), final_segment.size());
  EXPECT_TRUE(std::equal(final_segment.begin(), final_segment.end(), streamed.begin()));
}

TEST(VadSegmenter, RejectsBadParamsAndBadFrames) {
  VadSegmenterParams p;
  p.aggressiveness = 5;
  EXPECT_FALSE(VadSegmenter::create(p));
  p = {};
  p.max_segment_ms = 200;
  auto bad = VadSegmenter::create(p);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, audio::VadErrorKind::invalid_params);
  p = {};
  p.silence_ms = 0;
  EXPECT_FALSE(VadSegmenter::create(p));

  auto seg = VadSegmenter::create({});
  ASSERT_TRUE(seg);
  std::vector<int16_t> frame(480, 0);
  auto r = seg->process(frame, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, audio::VadErrorKind::invalid_frame);
  EXPECT_TRUE(seg->process(std::span<const int16_t>(frame.data(), 320), 0));
}

TEST(VadSegmenter, ParamsFromSettings) {
  config::VadSettings s;
  s.aggressiveness = 3;
  s.energy_threshold = 123;
  s.silence_ms = 700;
  s.preroll_ms = 300;
  s.min_speech_ms = 250;
  s.max_segment_ms = 9000;
  const auto p = segmenter_params_from(s);
  EXPECT_EQ(p.aggressiveness, 3);
  EXPECT_EQ(p.energy_threshold, 123);
  EXPECT_EQ(p.silence_ms, 700);
  EXPECT_EQ(p.preroll_ms, 300);
  EXPECT_EQ(p.min_speech_ms, 250);
  EXPECT_EQ(p.max_segment_ms, 9000);
  s.barge_in_min_ms = 480;
  EXPECT_EQ(barge_in_params_from(s).min_speech_ms, 480);
}

TEST(BargeInDetector, NeedsSustainedSpeech) {
  BargeInDetector d({300, 60});
  // 200 ms of speech, then a 100 ms gap (> max gap) resets the count.
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(d.on_frame(true));
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(d.on_frame(false));
  }
  EXPECT_EQ(d.speech_ms(), 0);
  // Speech with short 40 ms gaps keeps counting; fires exactly once at 300 ms of speech.
  int fired_at = -1;
  int fires = 0;
  for (int i = 0; i < 40; ++i) {
    const bool speech = (i % 4) != 3;
    if (d.on_frame(speech)) {
      ++fires;
      fired_at = i;
    }
  }
  EXPECT_EQ(fires, 1);
  EXPECT_EQ(fired_at, 18); // the 15th speech frame (300 ms): frames 0-2, 4-6, 8-10, 12-14, 16-18
  EXPECT_TRUE(d.fired());
  d.reset();
  EXPECT_FALSE(d.fired());
  for (int i = 0; i < 14; ++i) {
    EXPECT_FALSE(d.on_frame(true));
  }
  EXPECT_TRUE(d.on_frame(true));
}

#ifndef NDEBUG
TEST(VadSegmenterDeathTest, UseFromASecondThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto seg = VadSegmenter::create({});
        std::vector<int16_t> frame(320, 0);
        (void)seg->process(frame, 0); // binds to this thread
        std::thread other([&] { (void)seg->process(frame, 20); });
        other.join();
      },
      "thread-ownership violation");
}
#endif

TEST(BargeInDetector, ASingleFrameNeverBargesIn) {
  BargeInDetector d({300, 60});
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(d.on_frame(i % 5 == 0));
  }
}

} // namespace
} // namespace pv::cascade
