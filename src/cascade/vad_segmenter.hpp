#pragma once
// The VAD segmenter and barge-in detector live in audio/ (PersonaPlex's turn mode uses them too);
// this header maps the cascade's settings onto them and keeps the cascade's names.

#include "audio/vad_segmenter.hpp"
#include "config/cascade_settings.hpp"

namespace pv::cascade {

using audio::BargeInDetector;
using audio::BargeInParams;
using audio::kSegmenterFrameMs;
using audio::kSegmenterFrameSamples;
using audio::kSegmenterRateHz;
using audio::SegmentEndReason;
using audio::SegmenterEvent;
using audio::VadSegmenter;
using audio::VadSegmenterParams;

VadSegmenterParams segmenter_params_from(const config::VadSettings& settings);
BargeInParams barge_in_params_from(const config::VadSettings& settings);

} // namespace pv::cascade
