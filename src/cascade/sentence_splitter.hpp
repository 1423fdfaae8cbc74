#pragma once
// Streaming sentence splitter between the LLM's token stream and TTS.
//
// push() LLM pieces as they arrive; complete chunks come out as soon as their end is certain.
//  * Split after . ! ? (and runs like "?!" or "...", plus closing quotes/brackets) when followed
//    by whitespace, and at every newline.
//  * Never split inside decimals or numbers ("3.5", "1,000.50", "v2.0"), URLs and e-mails
//    ("example.com/a.b", "me@x.org"): a '.' followed by a non-space is never a boundary.
//  * Never split after abbreviations that precede a word (e.g., i.e., Mr., Dr., vs. ... see
//    abbreviations()) or after initials ("J. R. R. Tolkien", "J.R.R."). Abbreviations that can end
//    a sentence (etc., Inc., a.m. ...) split only when the next word is capitalised.
//  * The FIRST chunk of a stream also ends at a clause boundary (, ; : followed by a space, an em
//    or en dash, or " - ") once it has at least `first_chunk_min_chars`: first audio sooner. If a
//    sentence end is already in the buffer it wins (a whole sentence is never cut needlessly).
//  * A chunk reaching `max_chunk_chars` without a boundary is cut at its last space (hard cut at
//    a UTF-8 character boundary if there is no space in its second half).
//  * Pieces are concatenated exactly (spaces kept, never glued); emitted chunks are trimmed, and
//    chunks without any letter or digit (stray punctuation, blank lines) are dropped.
//  * flush() at the end of the stream emits the rest and re-arms the first-chunk rule.
// Owner: one thread (the backend's LLM/TTS worker). Pending text is bounded by max_chunk_chars.

#include "cascade/owner.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pv::cascade {

struct SentenceSplitterParams {
  std::size_t first_chunk_min_chars = 20;
  std::size_t max_chunk_chars = 250;
  bool split_first_clause = true;
};

class SentenceSplitter {
public:
  explicit SentenceSplitter(const SentenceSplitterParams& params = {});

  // Appends any chunks completed by `piece` to `out`.
  void push(std::string_view piece, std::vector<std::string>& out);
  // End of stream: appends the remaining text (if any) as the last chunk(s).
  void flush(std::vector<std::string>& out);
  // Drops pending text (barge-in) and re-arms the first-chunk rule.
  void reset();

  std::size_t pending_chars() const { return buffer_.size(); }
  std::size_t chunks_emitted() const { return emitted_; }

  // Abbreviations that never end a sentence / that may end one (lower case, with their dots).
  static const std::vector<std::string_view>& abbreviations();
  static const std::vector<std::string_view>& sentence_final_abbreviations();

private:
  void drain(bool at_end, std::vector<std::string>& out);
  void emit(std::size_t cut, std::vector<std::string>& out);

  SentenceSplitterParams params_;
  std::string buffer_;
  std::size_t emitted_ = 0;
  MovableThreadOwner owner_;
};

} // namespace pv::cascade
