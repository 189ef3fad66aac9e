"""Handcrafted audio features (librosa): summary statistics of a clip, standardised per catalog.

An audio encoder (this one, or AisfxAudio in aisfx_audio.py) has `raw_dim`, `sample_rate` and
`features(waveforms) -> float32 (n, raw_dim)`; its embedding is AudioScaler.apply(features), dim raw_dim + 1.

Raw features are what the cache keeps; the `AudioScaler` is fit over a catalog and stored
with it, so an uploaded query clip is scaled exactly like the catalog's clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mmrec_core.catalog import AUDIO_SR
from mmrec_core.errors import EncoderError
from mmrec_core.vectors import l2_normalize

N_MFCC = 20
FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"mfcc{i}_mean" for i in range(N_MFCC))
    + tuple(f"mfcc{i}_std" for i in range(N_MFCC))
    + tuple(f"dmfcc{i}_std" for i in range(N_MFCC))
    + tuple(f"chroma{i}" for i in range(12))
    + tuple(f"contrast{i}" for i in range(7))
    + ("rms_mean", "rms_std", "zcr_mean", "zcr_std", "centroid_mean", "centroid_std",
       "bandwidth_mean", "rolloff_mean", "flatness_mean", "onset_rate", "tempo", "log_duration")
)


BIAS = 1.0  # a constant last component: a clip equal to the catalog mean still has a direction


@dataclass(frozen=True)
class AudioScaler:
    """Per-feature mean and std, float32 (d,); apply() standardises, appends BIAS, L2-normalises (d+1)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, raw: np.ndarray, dim: int = len(FEATURE_NAMES)) -> "AudioScaler":
        """Fit over a catalog's raw features (n, dim); with fewer than two clips, the identity."""
        if raw.ndim != 2 or raw.shape[0] < 2 or raw.shape[1] != dim:
            return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32))
        std = raw.std(axis=0)
        return cls(raw.mean(axis=0).astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32))

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Raw features (n, d) -> float32 (n, d+1): standardised, BIAS appended, L2-normalised."""
        if raw.shape[1:] != self.mean.shape:
            raise EncoderError(f"audio features have dim {raw.shape[1:]}; the scaler expects {self.mean.shape}")
        z = (raw - self.mean) / self.std
        return l2_normalize(np.hstack([z, np.full((z.shape[0], 1), BIAS, np.float32)]))

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> "AudioScaler":
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["std"], np.float32))


class LibrosaAudio:
    """Summary statistics of MFCC, chroma, spectral contrast, RMS, ZCR, spectral shape and tempo."""

    modality = "audio"
    name = "librosa-v1"
    raw_dim = len(FEATURE_NAMES)  # what features() returns (and the cache keeps)
    dim = raw_dim + 1  # the embedding, after AudioScaler.apply
    sample_rate = AUDIO_SR

    def __init__(self, scaler: AudioScaler | None = None) -> None:
        self.scaler = scaler

    def features(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        """Raw features float32 (n, d) of mono waveforms at AUDIO_SR."""
        return np.stack([clip_features(y) for y in batch]) if len(batch) else np.zeros((0, len(FEATURE_NAMES)), np.float32)

    def encode(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        return (self.scaler or AudioScaler.fit(np.zeros((0, 0)))).apply(self.features(batch))


def clip_features(y: np.ndarray, sr: int = AUDIO_SR) -> np.ndarray:
    """Feature vector float32 (d,) of one mono clip; silent or tiny clips give finite values."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    S = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
    power = S**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC)
    dmfcc = librosa.feature.delta(mfcc, width=min(9, mfcc.shape[1] - (1 - mfcc.shape[1] % 2))) if mfcc.shape[1] >= 3 else np.zeros_like(mfcc)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0)
    contrast = librosa.feature.spectral_contrast(S=S, sr=sr)
    rms = librosa.feature.rms(S=S)[0]
    zcr = librosa.feature.zero_crossing_rate(y)[0]
    centroid = librosa.feature.spectral_centroid(S=S, sr=sr)[0] / 1000.0
    bandwidth = librosa.feature.spectral_bandwidth(S=S, sr=sr)[0] / 1000.0
    rolloff = librosa.feature.spectral_rolloff(S=S, sr=sr)[0] / 1000.0
    flatness = librosa.feature.spectral_flatness(S=S)[0]
    onset_env = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr)
    duration = y.size / sr
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_env, sr=sr))[0]) if onset_env.any() else 0.0
    vec = np.concatenate([
        mfcc.mean(1), mfcc.std(1), dmfcc.std(1), chroma.mean(1), contrast.mean(1),
        [rms.mean(), rms.std(), zcr.mean(), zcr.std(), centroid.mean(), centroid.std(),
         bandwidth.mean(), rolloff.mean(), flatness.mean(), len(onsets) / max(duration, 1e-3),
         tempo / 100.0, np.log1p(duration)],
    ]).astype(np.float32)
    return np.where(np.isfinite(vec), vec, 0.0).astype(np.float32)
