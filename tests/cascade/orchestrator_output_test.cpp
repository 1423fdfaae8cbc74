#include "cascade/orchestrator_output.hpp"

#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

namespace pv::cascade {
namespace {

std::vector<int16_t> constant(std::size_t n, int16_t value) {
  return std::vector<int16_t>(n, value);
}

std::vector<int16_t> pull(ReplyPlayout& out, std::size_t n = 960) {
  std::vector<int16_t> frame(n, -1);
  out.pull(frame);
  return frame;
}

audio::PlayoutBufferParams params(int capacity_ms = 1000) {
  return audio::PlayoutBufferParams{48000, capacity_ms, 0};
}

TEST(ReplyPlayout, TheReplysFirstAudioCutsTheFillerSoTheyNeverOverlap) {
  ReplyPlayout out(params());
  CancelSource cancel;
  out.begin_reply(1);
  ASSERT_TRUE(out.push_filler(1, constant(4800, 7))); // 100 ms of filler
  const auto first = pull(out);
  EXPECT_TRUE(std::all_of(first.begin(), first.end(), [](int16_t s) { return s == 7; }));

  out.begin_sentence(1, 0, "Hello there.");
  const auto pushed = out.push(1, 0, cancel.token(), constant(500, 3));
  ASSERT_TRUE(pushed.has_value());
  EXPECT_EQ(*pushed, 500u);
  const auto second = pull(out);
  EXPECT_TRUE(std::all_of(second.begin(), second.begin() + 500, [](int16_t s) { return s == 3; }));
  EXPECT_TRUE(std::none_of(second.begin(), second.end(), [](int16_t s) { return s == 7; }))
      << "filler audio after the reply started";
  // Once the reply has audio, no filler is accepted any more.
  EXPECT_FALSE(out.push_filler(1, constant(960, 7)));
}

TEST(ReplyPlayout, CutTurnsThePlayoutCursorIntoTheWordsHeard) {
  ReplyPlayout out(params(2000));
  CancelSource cancel;
  out.begin_reply(5);
  out.begin_sentence(5, 0, "one two three four");
  ASSERT_EQ(out.push(5, 0, cancel.token(), constant(9600, 1)), 9600u);
  out.set_sentence_total(5, 0, 9600);
  out.begin_sentence(5, 1, "five six");
  ASSERT_EQ(out.push(5, 1, cancel.token(), constant(4800, 2)), 4800u);
  out.set_sentence_total(5, 1, 4800);
  // Play all of the first sentence and half of the second.
  for (int i = 0; i < 10; ++i) {
    pull(out);
  }
  pull(out, 2400);
  const PlayoutCut cut = out.cut(5);
  EXPECT_TRUE(cut.reply_audio_played);
  EXPECT_EQ(cut.discarded_samples, 2400u);
  // "five" (first half of the sentence) was heard, "six" was not.
  EXPECT_EQ(cut.heard_text, "one two three four five");
  // Playout stopped: the next frame is silence.
  const auto after = pull(out);
  EXPECT_TRUE(std::all_of(after.begin(), after.end(), [](int16_t s) { return s == 0; }));
}

TEST(ReplyPlayout, NothingOfACutOrCancelledReplyIsPushedAfterwards) {
  ReplyPlayout out(params());
  CancelSource cancel;
  out.begin_reply(2);
  out.begin_sentence(2, 0, "abc");
  ASSERT_TRUE(out.push(2, 0, cancel.token(), constant(960, 4)).has_value());
  out.cut(2);
  EXPECT_FALSE(out.push(2, 0, cancel.token(), constant(960, 4)).has_value());

  out.begin_reply(3);
  out.begin_sentence(3, 0, "def");
  CancelSource cancelled;
  cancelled.cancel();
  EXPECT_FALSE(out.push(3, 0, cancelled.token(), constant(960, 4)).has_value());
  EXPECT_EQ(out.stats().pushed_samples, 960);
}

TEST(ReplyPlayout, PushTakesOnlyTheFreeSpaceAndNeverDrops) {
  ReplyPlayout out(params(200)); // 9600 samples
  CancelSource cancel;
  out.begin_reply(1);
  out.begin_sentence(1, 0, "long sentence");
  const auto taken = out.push(1, 0, cancel.token(), constant(20000, 9));
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(*taken, out.capacity_samples());
  EXPECT_EQ(out.push(1, 0, cancel.token(), constant(100, 9)), std::optional<std::size_t>(0));
  pull(out);
  EXPECT_EQ(out.push(1, 0, cancel.token(), constant(2000, 9)), std::optional<std::size_t>(960));
  EXPECT_EQ(out.stats().dropped_samples, 0);
}

TEST(ReplyPlayout, PlayedThroughOnlyOnceEndedAndDrained) {
  ReplyPlayout out(params());
  CancelSource cancel;
  out.begin_reply(8);
  out.begin_sentence(8, 0, "x");
  ASSERT_TRUE(out.push(8, 0, cancel.token(), constant(1500, 1)).has_value());
  pull(out);
  EXPECT_FALSE(out.played_through(8)) << "not ended yet";
  out.end_reply(8);
  EXPECT_FALSE(out.played_through(8)) << "540 samples still queued";
  pull(out);
  EXPECT_TRUE(out.played_through(8));
  EXPECT_FALSE(out.played_through(9));
  EXPECT_EQ(out.stats().underruns, 0) << "the end of a reply is not an underrun";
}

TEST(ReplyPlayout, HeardPartCountsAWordOnceItsFirstHalfWasPlayed) {
  EXPECT_EQ(ReplyPlayout::heard_part("alpha beta", 0, 100), "");
  EXPECT_EQ(ReplyPlayout::heard_part("alpha beta", 30, 100), "alpha");
  EXPECT_EQ(ReplyPlayout::heard_part("alpha beta", 100, 100), "alpha beta");
  EXPECT_EQ(ReplyPlayout::heard_part("alpha beta", 500, 100), "alpha beta");
  EXPECT_EQ(ReplyPlayout::heard_part("alpha beta", 10, 0), "");
}

} // namespace
} // namespace pv::cascade
