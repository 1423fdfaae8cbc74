#include "cascade/vad_segmenter.hpp"

namespace pv::cascade {

VadSegmenterParams segmenter_params_from(const config::VadSettings& settings) {
  VadSegmenterParams p;
  p.aggressiveness = settings.aggressiveness;
  p.energy_threshold = settings.energy_threshold;
  p.silence_ms = settings.silence_ms;
  p.preroll_ms = settings.preroll_ms;
  p.min_speech_ms = settings.min_speech_ms;
  p.max_segment_ms = settings.max_segment_ms;
  return p;
}

BargeInParams barge_in_params_from(const config::VadSettings& settings) {
  BargeInParams p;
  p.min_speech_ms = settings.barge_in_min_ms;
  return p;
}

} // namespace pv::cascade
