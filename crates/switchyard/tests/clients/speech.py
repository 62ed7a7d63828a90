"""Speech to text through the official `openai` SDK, changing only the base URL:
`audio.transcriptions.create` with a local Whisper model (tiny.en, CTranslate2 layout) and with an
OpenAI provider (mock), JSON and text answers, and the errors; Cloudflare's SDK running the same
model through Workers AI's `ai.run`. Run by tests/speech.rs:
argv[1] is the gateway, argv[2] a WAV file of espeak-ng saying "the quick brown fox jumps over
the lazy dog", argv[3] the same as FLAC.
"""
import sys

import cloudflare
import openai

base, wav, flac = sys.argv[1], sys.argv[2], sys.argv[3]
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
# what a local model cannot give yet is refused by name
try:
    with open(wav, "rb") as f:
        oa.audio.transcriptions.create(model="whisper", file=f, response_format="srt")
    raise AssertionError("srt needs timestamps")
except openai.BadRequestError as e:
    assert e.param == "response_format", e
# not audio: a 400 that says so, and the model goes on
try:
    oa.audio.transcriptions.create(model="whisper", file=("notes.txt", b"just some text"))
    raise AssertionError("text is not audio")
except openai.BadRequestError as e:
    assert "audio" in str(e), e

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
print("speech: ok")
