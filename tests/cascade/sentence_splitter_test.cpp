#include "cascade/sentence_splitter.hpp"

#include <random>

#include <gtest/gtest.h>

namespace pv::cascade {
namespace {

using Chunks = std::vector<std::string>;

Chunks split_whole(const std::string& text, SentenceSplitterParams params = {}) {
  SentenceSplitter splitter(params);
  Chunks out;
  splitter.push(text, out);
  splitter.flush(out);
  return out;
}

// Streams `text` in pieces the way an LLM does: each word with its leading space.
Chunks split_streamed(const std::string& text, SentenceSplitterParams params = {}) {
  SentenceSplitter splitter(params);
  Chunks out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = pos;
    while (end < text.size() && text[end] == ' ') {
      ++end;
    }
    while (end < text.size() && text[end] != ' ') {
      ++end;
    }
    splitter.push(std::string_view(text).substr(pos, end - pos), out);
    pos = end;
  }
  splitter.flush(out);
  return out;
}

// Streams one character at a time: the hardest case for look-ahead decisions.
Chunks split_by_char(const std::string& text, SentenceSplitterParams params = {}) {
  SentenceSplitter splitter(params);
  Chunks out;
  for (const char c : text) {
    splitter.push(std::string_view(&c, 1), out);
  }
  splitter.flush(out);
  return out;
}

struct Case {
  const char* name;
  std::string text;
  Chunks expected;
};

// Whole-text cases: a sentence end that is already known always wins over a clause split.
const std::vector<Case> kWholeCases = {
    {"brief example", "It costs 3.5 dollars, e.g. a lot.", {"It costs 3.5 dollars, e.g. a lot."}},
    {"two sentences", "Hello there. How are you?", {"Hello there.", "How are you?"}},
    {"exclamation and question", "Wow! Really? Yes.", {"Wow!", "Really?", "Yes."}},
    {"decimal", "Pi is about 3.14159 and e is 2.718.", {"Pi is about 3.14159 and e is 2.718."}},
    {"thousands and cents",
     "The total is 1,000.50 today. Pay now.",
     {"The total is 1,000.50 today.", "Pay now."}},
    {"version", "Upgrade to v2.0 soon. It is faster.", {"Upgrade to v2.0 soon.", "It is faster."}},
    {"url",
     "See example.com/a.b for details. Thanks.",
     {"See example.com/a.b for details.", "Thanks."}},
    {"url at sentence end",
     "Go to example.com. Then sign in.",
     {"Go to example.com.", "Then sign in."}},
    {"email", "Write to me@example.org today. Bye.", {"Write to me@example.org today.", "Bye."}},
    {"i.e.",
     "Use the short form, i.e. the one we discussed.",
     {"Use the short form, i.e. the one we discussed."}},
    {"titles",
     "Mr. Smith met Dr. Jones and Mrs. Lee. They talked.",
     {"Mr. Smith met Dr. Jones and Mrs. Lee.", "They talked."}},
    {"vs.", "It was Brazil vs. Germany last night.", {"It was Brazil vs. Germany last night."}},
    {"initials spaced",
     "I love J. R. R. Tolkien. His books are long.",
     {"I love J. R. R. Tolkien.", "His books are long."}},
    {"initials packed",
     "J.R.R. Tolkien wrote it. Read it.",
     {"J.R.R. Tolkien wrote it.", "Read it."}},
    {"etc. mid-sentence", "Apples, pears, etc. are fruit.", {"Apples, pears, etc. are fruit."}},
    {"etc. at sentence end",
     "We had apples, pears, etc. Then we left.",
     {"We had apples, pears, etc.", "Then we left."}},
    {"a.m.", "We start at 9 a.m. sharp. Be there.", {"We start at 9 a.m. sharp.", "Be there."}},
    {"time with colon", "Meet at 3:30 today. Okay?", {"Meet at 3:30 today.", "Okay?"}},
    {"ellipsis trailing off",
     "Okay, so... let me think. Right.",
     {"Okay, so... let me think.", "Right."}},
    {"ellipsis then new sentence", "Hmm... That is odd.", {"Hmm...", "That is odd."}},
    {"unicode ellipsis", "Well\xE2\x80\xA6 maybe. Sure.", {"Well\xE2\x80\xA6 maybe.", "Sure."}},
    {"ellipsis at the end", "Okay, so...", {"Okay, so..."}},
    {"non-ASCII words kept",
     "Caf\xC3\xA9 au lait. \xE2\x80\x94 Bien.",
     {"Caf\xC3\xA9 au lait.", "\xE2\x80\x94 Bien."}},
    {"interrobang run", "You did what?! Amazing.", {"You did what?!", "Amazing."}},
    {"closing quote", "She said \"stop.\" Then silence.", {"She said \"stop.\"", "Then silence."}},
    {"closing paren", "It works (mostly.) Try it.", {"It works (mostly.)", "Try it."}},
    {"newline", "First line\nSecond line", {"First line", "Second line"}},
    {"blank lines dropped", "One.\n\n\nTwo.", {"One.", "Two."}},
    {"punctuation only dropped", "Hi. ... !", {"Hi."}},
    {"no terminator", "no punctuation at all", {"no punctuation at all"}},
    {"empty", "", {}},
    {"whitespace", "   \n  ", {}},
};

TEST(SentenceSplitter, WholeTextTable) {
  for (const auto& c : kWholeCases) {
    EXPECT_EQ(split_whole(c.text), c.expected) << c.name;
  }
}

// Without the first-clause rule, streaming (word by word or char by char) gives exactly the
// whole-text answer: no decision depends on how the text was cut into pieces.
TEST(SentenceSplitter, StreamingMatchesWholeTextWithoutClauseRule) {
  SentenceSplitterParams p;
  p.split_first_clause = false;
  for (const auto& c : kWholeCases) {
    EXPECT_EQ(split_streamed(c.text, p), c.expected) << c.name;
    EXPECT_EQ(split_by_char(c.text, p), c.expected) << c.name;
  }
}

TEST(SentenceSplitter, FirstChunkGoesOutAtAClauseWhenStreamed) {
  // Streamed, the first clause (>= 20 chars) is spoken before the sentence is complete.
  EXPECT_EQ(split_streamed("It costs 3.5 dollars, e.g. a lot."),
            (Chunks{"It costs 3.5 dollars,", "e.g. a lot."}));
  // Only the first chunk: later clauses wait for their sentence end.
  EXPECT_EQ(
      split_streamed("Well, you know, I have been thinking about this for a while, and "
                     "honestly it matters. Another point, which is long enough, stays "
                     "whole."),
      (Chunks{"Well, you know, I have been thinking about this for a while,",
              "and honestly it matters.", "Another point, which is long enough, stays whole."}));
  // Short clauses do not split.
  EXPECT_EQ(split_streamed("Yes, sure, ok. Next."), (Chunks{"Yes, sure, ok.", "Next."}));
  // A sentence end already in the buffer wins over a clause.
  EXPECT_EQ(split_whole("That is a really interesting idea, honestly. Tell me more."),
            (Chunks{"That is a really interesting idea, honestly.", "Tell me more."}));
}

TEST(SentenceSplitter, ClauseBoundaryKinds) {
  EXPECT_EQ(split_streamed("Here is the thing that matters; the rest is noise."),
            (Chunks{"Here is the thing that matters;", "the rest is noise."}));
  EXPECT_EQ(split_streamed("This is what I really think: it works."),
            (Chunks{"This is what I really think:", "it works."}));
  EXPECT_EQ(split_streamed("The answer might surprise you \xE2\x80\x94 it is yes."),
            (Chunks{"The answer might surprise you \xE2\x80\x94", "it is yes."}));
  EXPECT_EQ(split_streamed("The answer might surprise you - it is yes."),
            (Chunks{"The answer might surprise you -", "it is yes."}));
  // Commas in numbers and colons in times or URLs are not clause boundaries.
  EXPECT_EQ(
      split_streamed("The payment of 1,000,000 dollars at 10:30 via https://x.org/pay is due."),
      (Chunks{"The payment of 1,000,000 dollars at 10:30 via https://x.org/pay is due."}));
}

TEST(SentenceSplitter, DecisionsWaitForTheNextCharacter) {
  SentenceSplitter splitter;
  Chunks out;
  splitter.push("It costs 3.", out);
  EXPECT_TRUE(out.empty()) << "'3.' might be a decimal";
  splitter.push("5", out);
  EXPECT_TRUE(out.empty());
  splitter.push(" dollars. And", out);
  EXPECT_EQ(out, (Chunks{"It costs 3.5 dollars."}));
  splitter.push(" then", out);
  EXPECT_EQ(out.size(), 1U);
  EXPECT_EQ(splitter.pending_chars(), std::string(" And then").size());
  splitter.flush(out);
  EXPECT_EQ(out, (Chunks{"It costs 3.5 dollars.", "And then"}));
}

TEST(SentenceSplitter, NeverGluesPieces) {
  // Pieces carry their own spaces; trimming at piece level would glue "Hello" + "world".
  SentenceSplitter splitter;
  Chunks out;
  for (const char* piece : {"Hello", " ", "world", " and", " good", "bye", "."}) {
    splitter.push(piece, out);
  }
  splitter.flush(out);
  EXPECT_EQ(out, (Chunks{"Hello world and goodbye."}));
}

TEST(SentenceSplitter, ForceSplitsLongRunsAtASpace) {
  std::string text;
  for (int i = 0; i < 60; ++i) {
    text += "word" + std::to_string(i) + " ";
  }
  SentenceSplitterParams p;
  p.max_chunk_chars = 100;
  const auto chunks = split_streamed(text, p);
  ASSERT_GT(chunks.size(), 3U);
  std::string joined;
  for (const auto& c : chunks) {
    EXPECT_LE(c.size(), 100U);
    EXPECT_NE(c.back(), ' ');
    // Every chunk ends on a whole word.
    EXPECT_EQ(c.substr(0, 4), "word") << c;
    joined += (joined.empty() ? "" : " ") + c;
  }
  EXPECT_EQ(joined + " ", text) << "nothing lost, nothing glued";
}

TEST(SentenceSplitter, HardCutWithoutSpacesKeepsUtf8Intact) {
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text += "\xC3\xA9"; // é, two bytes
  }
  SentenceSplitterParams p;
  p.max_chunk_chars = 33; // odd: a naive cut would split a character
  const auto chunks = split_whole(text, p);
  std::string joined;
  for (const auto& c : chunks) {
    EXPECT_LE(c.size(), 33U);
    EXPECT_EQ(c.size() % 2, 0U) << "cut inside a UTF-8 sequence";
    joined += c;
  }
  EXPECT_EQ(joined, text);
}

TEST(SentenceSplitter, ResetDropsPendingTextAndRearmsClauseRule) {
  SentenceSplitter splitter;
  Chunks out;
  splitter.push("This was going to be a long", out);
  splitter.reset();
  EXPECT_EQ(splitter.pending_chars(), 0U);
  splitter.push("Fresh start for the next reply, with a clause", out);
  EXPECT_EQ(out, (Chunks{"Fresh start for the next reply,"}));
  EXPECT_EQ(splitter.chunks_emitted(), 1U);
  splitter.flush(out);
  EXPECT_EQ(splitter.chunks_emitted(), 0U) << "flush ends the stream";
  splitter.push("Next stream begins here, and clauses split again", out);
  EXPECT_EQ(out.back(), "Next stream begins here,");
}

TEST(SentenceSplitter, RandomBytesNeverBreakIt) {
  std::mt19937 rng(42);
  const std::string alphabet = "ab .!?,;:\n-'\")3\xE2\x80\x94\xC3\xA9\xFF\x80";
  SentenceSplitterParams p;
  p.max_chunk_chars = 40;
  for (int round = 0; round < 200; ++round) {
    SentenceSplitter splitter(p);
    Chunks out;
    std::string fed;
    for (int i = 0; i < 300; ++i) {
      std::string piece;
      const int n = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int k = 0; k < n; ++k) {
        piece += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
      }
      fed += piece;
      splitter.push(piece, out);
      ASSERT_LE(splitter.pending_chars(), 2 * p.max_chunk_chars);
    }
    splitter.flush(out);
    std::size_t total = 0;
    for (const auto& c : out) {
      EXPECT_FALSE(c.empty());
      EXPECT_LE(c.size(), p.max_chunk_chars);
      total += c.size();
    }
    EXPECT_LE(total, fed.size());
  }
}

TEST(SentenceSplitter, AbbreviationListIsExposed) {
  const auto& list = SentenceSplitter::abbreviations();
  for (const char* a : {"e.g.", "i.e.", "mr.", "dr.", "vs."}) {
    EXPECT_NE(std::find(list.begin(), list.end(), a), list.end()) << a;
  }
  const auto& final_list = SentenceSplitter::sentence_final_abbreviations();
  EXPECT_NE(std::find(final_list.begin(), final_list.end(), "etc."), final_list.end());
}

} // namespace
} // namespace pv::cascade
