// The simulated model's voice (SpeechBank) and its turn-taking (SimModel), without the network.

#include "sim/model.hpp"
#include "sim/speech_bank.hpp"
#include "sim_test_util.hpp"

#include <numeric>

#include <gtest/gtest.h>

namespace pv::sim {
namespace {

using test::rms;
using test::speak;

std::string join(const std::vector<std::string>& pieces) {
  return std::accumulate(pieces.begin(), pieces.end(), std::string());
}

TEST(SegmentText, PiecesConcatenateToTheSentenceWithALeadingSpace) {
  const std::string text = "Hello, world! It's  a   wonderful conversation.";
  const auto pieces = segment_text(text);
  EXPECT_EQ(join(pieces), " Hello, world! It's a wonderful conversation.");
  const std::vector<std::string> expected = {" Hello",  ",",   " world",  "!",      " It's", " a",
                                             " wonder", "ful", " conver", "sation", "."};
  EXPECT_EQ(pieces, expected);
  EXPECT_TRUE(segment_text("   ").empty());
  EXPECT_EQ(join(segment_text("(quoted) \"x\"")), " (quoted) \"x\"");
}

TEST(SegmentText, NeverCutsInsideAUtf8Character) {
  const std::string text = "Zürichsee\xC3\xA4\xC3\xA4\xC3\xA4 ok"; // long word with 2-byte chars
  const auto pieces = segment_text(text);
  EXPECT_EQ(join(pieces), " " + text);
  for (const auto& piece : pieces) {
    ASSERT_FALSE(piece.empty());
    EXPECT_NE(static_cast<unsigned char>(piece.front()) & 0xC0, 0x80) << piece;
  }
}

std::shared_ptr<const SpeechBank> make_bank(std::vector<std::string> replies,
                                            std::string backchannel = "Mm-hmm.") {
  SpeechBankParams params;
  params.replies = std::move(replies);
  params.backchannel = std::move(backchannel);
  auto bank = SpeechBank::create(params);
  if (!bank) {
    ADD_FAILURE() << bank.error();
    return nullptr;
  }
  return *bank;
}

TEST(SpeechBank, SilencePacketsAreWhatAFreshServerEncoderMakes) {
  auto bank = make_bank({"Hello."});
  ASSERT_TRUE(bank);
  // Protocol §8.4: Debian libopus 1.3.1, 24 kHz VOIP, 1920 zero samples -> this 104-byte packet.
  const std::vector<uint8_t> first_84 = {
      0x6b, 0x84, 0x18, 0x19, 0x19, 0x0b, 0xe4, 0xc1, 0x36, 0xec, 0xc5, 0x8d, 0x8c, 0x49, 0x48,
      0x4a, 0x31, 0x76, 0x41, 0x98, 0x5d, 0xf5, 0xfa, 0xe3, 0x5f, 0x9f, 0x5b, 0x80, 0x00, 0x07,
      0xc9, 0x72, 0x27, 0xe1, 0x44, 0xea, 0x55, 0xf1, 0xf0, 0xc0, 0xd1, 0xb0, 0xc0, 0xc2, 0x3f,
      0x49, 0x0e, 0xbe, 0xb1, 0x1a, 0x07, 0xec, 0x7e, 0xc0, 0x07, 0xc9, 0x79, 0xc8, 0xc9, 0x57,
      0xc0, 0xa2, 0x12, 0x23, 0xfa, 0x59, 0xce, 0x1a, 0xd2, 0x28, 0x5f, 0xf6, 0xb1, 0x1a, 0x26,
      0xa4, 0xa6, 0xa4, 0x80, 0x07, 0xc9, 0x79, 0xc8, 0xc9, 0x57, 0xc0, 0xa2, 0x12, 0x23, 0xfa,
      0x59, 0xce, 0x1a, 0xd2, 0x28, 0x5f, 0xf6, 0xb1, 0x1a, 0x26, 0xa4, 0xa6, 0xa4, 0x80};
  EXPECT_EQ(bank->silence().first, first_84);
  EXPECT_EQ(bank->silence().steady.size(), 102u);
  // A live encoder keeps producing the steady packet for digital silence.
  audio::OpusEncoderParams params;
  params.complexity = -1;
  auto encoder = audio::OpusEncoder::create(params);
  ASSERT_TRUE(encoder);
  std::vector<int16_t> zeros(1920, 0);
  std::vector<uint8_t> packet;
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(encoder->encode(zeros, packet));
    EXPECT_EQ(packet, i == 0 ? bank->silence().first : bank->silence().steady) << "frame " << i;
  }
}

TEST(SpeechBank, ReplyClipIsSpeechInWhole80msPacketsWithTimedPieces) {
  const std::string sentence = "That sounds interesting, tell me more.";
  auto bank = make_bank({sentence});
  ASSERT_TRUE(bank);
  const SpeechClip& clip = bank->reply(0);
  EXPECT_EQ(&bank->reply(5), &clip); // cycles
  EXPECT_EQ(clip.text, sentence);
  ASSERT_GT(clip.packets.size(), 12u); // well over a second of speech
  std::vector<int16_t> pcm;
  auto decoder = audio::OpusDecoder::create(24000);
  ASSERT_TRUE(decoder);
  for (const auto& packet : clip.packets) {
    ASSERT_EQ(audio::opus_packet_samples(packet, 24000).value_or(0), 1920);
    ASSERT_TRUE(decoder->decode(packet, pcm));
  }
  EXPECT_EQ(static_cast<int64_t>(pcm.size()), clip.samples());
  EXPECT_GT(rms(pcm), 500.0); // audible speech, not silence
  EXPECT_LT(clip.speech_start_sample, clip.speech_end_sample);
  EXPECT_LE(clip.speech_end_sample, clip.samples());

  std::vector<std::string> texts;
  int64_t previous = -1;
  for (const auto& piece : clip.pieces) {
    texts.push_back(piece.text);
    EXPECT_GE(piece.start_sample, previous) << piece.text;
    EXPECT_GE(piece.start_sample, clip.speech_start_sample);
    EXPECT_LE(piece.start_sample, clip.speech_end_sample);
    previous = piece.start_sample;
  }
  EXPECT_EQ(join(texts), " " + sentence);
  // Later words come later in the audio: the last word starts in the second half.
  EXPECT_GT(clip.pieces[clip.pieces.size() - 2].start_sample,
            (clip.speech_start_sample + clip.speech_end_sample) / 2);
}

TEST(SpeechBank, RefusesAnEmptyReplyList) {
  SpeechBankParams params;
  params.replies = {"", "   "};
  EXPECT_FALSE(SpeechBank::create(params));
}

// Drives the model with `input` (24 kHz), step by step, and records its output.
struct ModelRun {
  std::vector<int16_t> output; // decoded
  std::vector<bool> speaking;  // per step
  std::vector<std::string> texts;
  std::vector<int64_t> text_steps;
  std::vector<int64_t> reply_steps;
  std::vector<int64_t> interrupt_steps;
  std::vector<int64_t> backchannel_steps;
  std::vector<int64_t> turn_end_steps;
};

ModelRun run_model(SimModel& model, const std::vector<int16_t>& input) {
  ModelRun run;
  auto decoder = audio::OpusDecoder::create(24000);
  for (std::size_t at = 0, step = 0; at + 1920 <= input.size(); at += 1920, ++step) {
    const ModelStep out = model.step(std::span<const int16_t>(input).subspan(at, 1920));
    EXPECT_TRUE(decoder->decode(out.packet, run.output));
    run.speaking.push_back(out.speaking);
    const auto s = static_cast<int64_t>(step);
    if (!out.text.empty()) {
      run.texts.emplace_back(out.text);
      run.text_steps.push_back(s);
    }
    if (out.reply_started != nullptr) {
      run.reply_steps.push_back(s);
    }
    if (out.interrupted != nullptr) {
      run.interrupt_steps.push_back(s);
    }
    if (out.backchannel_started != nullptr) {
      run.backchannel_steps.push_back(s);
    }
    if (out.user_turn_ended) {
      run.turn_end_steps.push_back(s);
    }
  }
  return run;
}

void append_silence(std::vector<int16_t>& pcm, int ms) {
  pcm.insert(pcm.end(), static_cast<std::size_t>(24 * ms), 0);
}

int64_t last_loud_sample(const std::vector<int16_t>& pcm) {
  for (std::size_t i = pcm.size(); i-- > 0;) {
    if (std::abs(static_cast<int>(pcm[i])) >= 1000) {
      return static_cast<int64_t>(i);
    }
  }
  return -1;
}

TEST(SimModel, SilenceInSilenceOutAndNoText) {
  auto bank = make_bank({"Hello."});
  ASSERT_TRUE(bank);
  auto model = SimModel::create({}, bank, 1);
  ASSERT_TRUE(model);
  std::vector<int16_t> input;
  append_silence(input, 4000);
  const ModelRun run = run_model(*model, input);
  EXPECT_EQ(run.output.size(), input.size());
  EXPECT_LT(rms(run.output), 1.0);
  EXPECT_TRUE(run.texts.empty());
  EXPECT_TRUE(run.reply_steps.empty());
  EXPECT_EQ(model->stats().steps, 50);
}

TEST(SimModel, AnswersAfterTheUserStopsWithTheReplyAndItsText) {
  const std::string reply = "Good question. Let me think about that for a moment.";
  auto bank = make_bank({reply});
  ASSERT_TRUE(bank);
  SimModelParams params;
  auto model = SimModel::create(params, bank, 1);
  ASSERT_TRUE(model);

  std::vector<int16_t> input;
  append_silence(input, 400);
  const std::vector<int16_t> utterance = speak("what is the weather like in paris today");
  input.insert(input.end(), utterance.begin(), utterance.end());
  const int64_t user_stopped = last_loud_sample(input);
  append_silence(input, 6000);
  const ModelRun run = run_model(*model, input);

  ASSERT_EQ(run.reply_steps.size(), 1u);
  const int64_t reply_step = run.reply_steps[0];
  // The reply starts after the user stopped plus the end-of-turn silence (not before).
  EXPECT_GE(reply_step * 1920, user_stopped + 24 * (params.end_silence_ms - 100));
  // ... and not much later than that (a second of slack for the VAD's hangover).
  EXPECT_LE(reply_step * 1920, user_stopped + 24 * (params.end_silence_ms + 1000));
  // Output before the reply is silence; the reply itself is speech.
  const auto before =
      std::span<const int16_t>(run.output).first(static_cast<std::size_t>(reply_step) * 1920);
  EXPECT_LT(rms(before), 1.0);
  const SpeechClip& clip = bank->reply(0);
  const auto during = std::span<const int16_t>(run.output)
                          .subspan(static_cast<std::size_t>(reply_step) * 1920,
                                   static_cast<std::size_t>(clip.samples()));
  EXPECT_GT(rms(during), 500.0);
  for (std::size_t s = 0; s < run.speaking.size(); ++s) {
    const bool in_reply =
        static_cast<int64_t>(s) >= reply_step &&
        static_cast<int64_t>(s) < reply_step + static_cast<int64_t>(clip.packets.size());
    EXPECT_EQ(run.speaking[s], in_reply) << "step " << s;
  }
  // The text is the reply, one piece per step, all while (or just after) it is spoken.
  EXPECT_EQ(join(run.texts), " " + reply);
  for (std::size_t i = 1; i < run.text_steps.size(); ++i) {
    EXPECT_GT(run.text_steps[i], run.text_steps[i - 1]);
  }
  EXPECT_GE(run.text_steps.front(), reply_step);
  EXPECT_EQ(model->stats().replies, 1);
  EXPECT_EQ(model->stats().user_turns, 1);
  EXPECT_EQ(model->stats().interruptions, 0);
}

TEST(SimModel, RepliesCycleThroughTheList) {
  auto bank = make_bank({"First answer.", "Second answer."});
  ASSERT_TRUE(bank);
  auto model = SimModel::create({}, bank, 1);
  ASSERT_TRUE(model);
  const std::vector<int16_t> utterance = speak("hello there my friend how are you");
  std::vector<int16_t> input;
  for (int i = 0; i < 3; ++i) {
    input.insert(input.end(), utterance.begin(), utterance.end());
    append_silence(input, 4000);
  }
  const ModelRun run = run_model(*model, input);
  ASSERT_EQ(run.reply_steps.size(), 3u);
  EXPECT_EQ(join(run.texts), " First answer. Second answer. First answer.");
}

TEST(SimModel, ShortNoiseIsNotAnswered) {
  auto bank = make_bank({"Hello."});
  ASSERT_TRUE(bank);
  SimModelParams params;
  params.min_speech_ms = 2000; // more than the utterance holds
  auto model = SimModel::create(params, bank, 1);
  ASSERT_TRUE(model);
  std::vector<int16_t> input = speak("yes");
  append_silence(input, 3000);
  const ModelRun run = run_model(*model, input);
  EXPECT_TRUE(run.reply_steps.empty());
  EXPECT_EQ(model->stats().ignored_utterances, 1);
  EXPECT_LT(rms(run.output), 1.0);
}

TEST(SimModel, UserSpeechStopsTheReplyWithinAStep) {
  const std::string reply =
      "That is a great point, and I think the room would love to hear more about it.";
  auto bank = make_bank({reply, "Second."});
  ASSERT_TRUE(bank);
  auto model = SimModel::create({}, bank, 1);
  ASSERT_TRUE(model);
  const std::vector<int16_t> utterance = speak("tell me something about the ocean please");
  std::vector<int16_t> input = utterance;
  append_silence(input, 1500); // the reply starts in here
  const std::size_t barge_in_at = input.size();
  const std::vector<int16_t> interruption = speak("wait wait stop there");
  input.insert(input.end(), interruption.begin(), interruption.end());
  append_silence(input, 3000);
  const ModelRun run = run_model(*model, input);

  ASSERT_GE(run.reply_steps.size(), 1u);
  ASSERT_EQ(run.interrupt_steps.size(), 1u);
  const int64_t first_speech_step = static_cast<int64_t>(barge_in_at / 1920);
  // Stopped within a few steps of the user's onset (VAD confirmation is 80 ms of speech) ...
  EXPECT_GE(run.interrupt_steps[0], first_speech_step);
  EXPECT_LE(run.interrupt_steps[0], first_speech_step + 4);
  // ... and before the reply would have ended by itself.
  EXPECT_LT(run.interrupt_steps[0],
            run.reply_steps[0] + static_cast<int64_t>(bank->reply(0).packets.size()));
  // From the interruption on, the reply's audio is gone until the next reply.
  const int64_t next_reply =
      run.reply_steps.size() > 1 ? run.reply_steps[1] : static_cast<int64_t>(run.speaking.size());
  for (int64_t s = run.interrupt_steps[0]; s < next_reply; ++s) {
    EXPECT_FALSE(run.speaking[static_cast<std::size_t>(s)]) << "step " << s;
  }
  // Its text stopped too: what was sent is a strict prefix of the sentence.
  std::string first_reply_text;
  for (std::size_t i = 0; i < run.texts.size(); ++i) {
    if (run.text_steps[i] < run.interrupt_steps[0]) {
      first_reply_text += run.texts[i];
    }
  }
  EXPECT_LT(first_reply_text.size(), reply.size() + 1);
  EXPECT_EQ((" " + reply).rfind(first_reply_text, 0), 0u) << first_reply_text;
  EXPECT_EQ(model->stats().interruptions, 1);
  // The interrupting utterance is answered in turn.
  ASSERT_EQ(run.reply_steps.size(), 2u);
  EXPECT_GT(run.reply_steps[1], run.interrupt_steps[0]);
}

TEST(SimModel, BackchannelDuringLongSpeechIsSeededAndNotAnInterruption) {
  auto bank = make_bank({"Reply."}, "Mm-hmm.");
  ASSERT_TRUE(bank);
  SimModelParams params;
  params.backchannel_after_ms = 1500;
  params.backchannel_probability = 1.0;
  params.end_silence_ms = 800;
  auto model = SimModel::create(params, bank, 7);
  ASSERT_TRUE(model);
  std::vector<int16_t> input =
      speak("so yesterday i went down to the market and bought apples pears and a very large melon "
            "then i walked all the way home along the river");
  append_silence(input, 3000);
  const ModelRun run = run_model(*model, input);
  ASSERT_EQ(run.backchannel_steps.size(), 1u);
  EXPECT_GE(run.backchannel_steps[0] * 80, 1500 - 80);
  EXPECT_EQ(model->stats().interruptions, 0);
  ASSERT_EQ(run.reply_steps.size(), 1u);
  EXPECT_GT(run.reply_steps[0], run.backchannel_steps[0]);
  EXPECT_EQ(join(run.texts), " Mm-hmm. Reply.");

  // Probability 0: never.
  params.backchannel_probability = 0.0;
  auto quiet = SimModel::create(params, bank, 7);
  ASSERT_TRUE(quiet);
  EXPECT_TRUE(run_model(*quiet, input).backchannel_steps.empty());

  // Same seed, same decisions; the draw differs between seeds.
  params.backchannel_probability = 0.5;
  int differing = 0;
  for (uint64_t seed = 1; seed <= 16; ++seed) {
    auto a = SimModel::create(params, bank, seed);
    auto b = SimModel::create(params, bank, seed);
    const auto ra = run_model(*a, input).backchannel_steps;
    EXPECT_EQ(ra, run_model(*b, input).backchannel_steps);
    differing += ra.empty() ? 0 : 1;
  }
  EXPECT_GT(differing, 0);
  EXPECT_LT(differing, 16);
}

TEST(SimModel, RejectsBadParameters) {
  auto bank = make_bank({"Hello."});
  ASSERT_TRUE(bank);
  SimModelParams params;
  params.backchannel_probability = 1.5;
  EXPECT_FALSE(SimModel::create(params, bank, 1));
  params = {};
  params.end_silence_ms = 0;
  EXPECT_FALSE(SimModel::create(params, bank, 1));
  EXPECT_FALSE(SimModel::create({}, nullptr, 1));
}

} // namespace
} // namespace pv::sim
