"""Speech to text through the official `openai` SDK, changing only the base URL:
`audio.transcriptions.create` with a local Whisper model (tiny.en, CTranslate2 layout) and with an
OpenAI provider (mock), JSON, text and word-timed answers, and the errors; Cloudflare's SDK running the same
model through Workers AI's `ai.run`. Run by tests/speech.rs:
argv[1] is the gateway, argv[2] a WAV file of espeak-ng saying "the quick brown fox jumps over
the lazy dog", argv[3] the same as FLAC, argv[4] espeak-ng speaking Spanish, argv[5] asking to call Stella.
"""
import sys

import cloudflare
import openai

base, wav, flac, spanish, stella = sys.argv[1:6]
oa = openai.OpenAI(base_url=base + "/v1", api_key="sk-whatever")

# a local model, by its name and by a Workers AI alias
for model in ["whisper", "@cf/openai/whisper-tiny-en"]:
    with open(wav, "rb") as f:
        t = oa.audio.transcriptions.create(model=model, file=f)
    assert "lazy dog" in t.text.lower(), t
with open(flac, "rb") as f:
    text = oa.audio.transcriptions.create(model="whisper", file=("talk.flac", f.read()),
                                          response_format="text")
assert isinstance(text, str) and "quick brown fox" in text.lower(), text
# a prompt steers spelling (espeak-ng's "Stella" is heard as "us, teller" without one)
with open(stella, "rb") as f:
    plain = oa.audio.transcriptions.create(model="whisper", file=f).text
with open(stella, "rb") as f:
    steered = oa.audio.transcriptions.create(model="whisper", file=f, prompt="A note to Stella.").text
assert "stella" not in plain.lower() and "stella" in steered.lower(), (plain, steered)

# the segments' times: verbose_json, srt, vtt
with open(wav, "rb") as f:
    v = oa.audio.transcriptions.create(model="whisper", file=f, response_format="verbose_json")
assert v.segments and v.segments[0].start == 0.0 and 1.0 < v.segments[-1].end < 6.0, v
assert "lazy dog" in v.text.lower() and v.duration == v.segments[-1].end, v
with open(wav, "rb") as f:
    srt = oa.audio.transcriptions.create(model="whisper", file=f, response_format="srt")
assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and "lazy dog" in srt.lower(), srt
with open(wav, "rb") as f:
    vtt = oa.audio.transcriptions.create(model="whisper", file=f, response_format="vtt")
assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ") and "lazy dog" in vtt.lower(), vtt
# word timestamps (verbose_json only): every word in order, "dog" last and late
with open(wav, "rb") as f:
    v = oa.audio.transcriptions.create(model="whisper", file=f, response_format="verbose_json",
                                       timestamp_granularities=["word", "segment"])
said = [w.word.lower().strip(".,") for w in v.words]
assert said[-2:] == ["lazy", "dog"] and "quick" in said, v.words
assert all(a.start <= b.start and a.start <= a.end for a, b in zip(v.words, v.words[1:])), v.words
assert v.words[0].start < 0.6 and v.words[-1].start > 1.2, v.words
try:
    with open(wav, "rb") as f:
        oa.audio.transcriptions.create(model="whisper", file=f, response_format="json",
                                       timestamp_granularities=["word"])
    raise AssertionError("word timestamps come with verbose_json")
except openai.BadRequestError as e:
    assert e.param == "timestamp_granularities", e
# not audio: a 400 that says so, and the model goes on
try:
    oa.audio.transcriptions.create(model="whisper", file=("notes.txt", b"just some text"))
    raise AssertionError("text is not audio")
except openai.BadRequestError as e:
    assert "audio" in str(e), e

# a multilingual model: the language heard, and the translation to English
with open(spanish, "rb") as f:
    v = oa.audio.transcriptions.create(model="whisper-base", file=f, response_format="verbose_json")
assert v.language == "spanish" and "leche" in v.text.lower(), v
with open(spanish, "rb") as f:
    t = oa.audio.translations.create(model="whisper-base", file=f)
assert "coffee" in t.text.lower(), t

# an OpenAI provider gets the upload as it came (model rewritten)
with open(wav, "rb") as f:
    t = oa.audio.transcriptions.create(model="oa/whisper-1", file=f)
assert t.text == "Hello from mock transcription.", t
with open(wav, "rb") as f:
    text = oa.audio.transcriptions.create(model="oa/whisper-1", file=f, response_format="text")
assert text.strip() == "Hello from mock transcription.", text
# Cloudflare's SDK: Workers AI's speech run, the audio as an array of bytes
cf = cloudflare.Cloudflare(api_token="cf-token", base_url=base + "/client/v4")
with open(wav, "rb") as f:
    audio = list(f.read())
result = cf.ai.run("@cf/openai/whisper-tiny-en", account_id="acct", audio=audio)
assert "lazy dog" in result["text"].lower() and result["word_count"] >= 8, result
assert result["vtt"].startswith("WEBVTT") and "-->" in result["vtt"], result
assert [w["word"].lower().strip(".") for w in result["words"]][-1] == "dog", result["words"]
print("speech: ok")
