//! CTranslate2 / faster-whisper checkpoints (`model.bin`): the file read, and its Whisper
//! variables renamed and split into the Hugging Face layout candle's Whisper loads.
//!
//! The format (CTranslate2's `model_spec.py`): a `u32` version, the spec's name, a `u32`
//! revision, then each variable — its name, rank, dims (`u32`), dtype (float32, int8, int16,
//! int32, float16, bfloat16), byte count and bytes — then aliases (name → variable). Strings are
//! a `u16` length counting a trailing NUL. Little-endian throughout.
//!
//! Whisper's attention is stored fused: the self-attention's Q, K and V in one `linear_0`, the
//! cross-attention's K and V in `linear_1`; int8 weights carry a per-row `weight_scale`.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::whisper::Config;

use crate::RuntimeError;

/// A variable's element type, numbered as CTranslate2 numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Type {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl Ct2Type {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Ct2Type::F32,
            1 => Ct2Type::I8,
            2 => Ct2Type::I16,
            3 => Ct2Type::I32,
            4 => Ct2Type::F16,
            5 => Ct2Type::BF16,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Ct2Type::I8 => 1,
            Ct2Type::I16 | Ct2Type::F16 | Ct2Type::BF16 => 2,
            Ct2Type::F32 | Ct2Type::I32 => 4,
        }
    }
}

/// One variable: where its bytes are in the file.
#[derive(Debug, Clone)]
pub struct Variable {
    pub shape: Vec<usize>,
    pub dtype: Ct2Type,
    at: std::ops::Range<usize>,
}

/// A `model.bin`, read whole.
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    bytes: Vec<u8>,
    variables: HashMap<String, Variable>,
    aliases: HashMap<String, String>,
}

impl Ct2Model {
    /// Whether the weights are stored in 16 bits (float16, bfloat16): the most of them are.
    pub fn is_half(&self) -> bool {
        let half = self
            .variables
            .values()
            .filter(|v| matches!(v.dtype, Ct2Type::F16 | Ct2Type::BF16))
            .count();
        half * 2 > self.variables.len()
    }
}

fn bad(what: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::load(format!("not a CTranslate2 model.bin: {what}"))
}

/// A cursor over the file with bounds-checked reads.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], RuntimeError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| bad(format!("truncated at byte {}", self.at)))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, RuntimeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, RuntimeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, RuntimeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, RuntimeError> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        let text = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(text.to_vec()).map_err(|_| bad("a name that is not UTF-8"))
    }
}

impl Ct2Model {
    /// Parses `bytes` (a whole `model.bin`).
    pub fn parse(bytes: Vec<u8>) -> Result<Self, RuntimeError> {
        let mut r = Reader {
            bytes: &bytes,
            at: 0,
        };
        let version = r.u32()?;
        if !(5..=6).contains(&version) {
            return Err(bad(format!("binary version {version} (5 or 6 expected)")));
        }
        let spec = r.string()?;
        let revision = r.u32()?;
        let count = r.u32()? as usize;
        let mut variables = HashMap::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let name = r.string()?;
            let rank = r.u8()? as usize;
            let shape = (0..rank)
                .map(|_| r.u32().map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let id = r.u8()?;
            let dtype =
                Ct2Type::from_id(id).ok_or_else(|| bad(format!("dtype {id} of `{name}`")))?;
            let len = r.u32()? as usize;
            let elements: usize = shape.iter().product();
            if elements.checked_mul(dtype.size()) != Some(len) {
                return Err(bad(format!("`{name}`: {len} bytes for shape {shape:?}")));
            }
            let start = r.at;
            r.take(len)?;
            variables.insert(
                name,
                Variable {
                    shape,
                    dtype,
                    at: start..start + len,
                },
            );
        }
        let mut aliases = HashMap::new();
        for _ in 0..r.u32()? {
            let alias = r.string()?;
            let target = r.string()?;
            aliases.insert(alias, target);
        }
        Ok(Ct2Model {
            spec,
            revision,
            bytes,
            variables,
            aliases,
        })
    }

    /// The variable an alias stands for, or `name` itself.
    fn resolve<'n>(&'n self, name: &'n str) -> &'n str {
        self.aliases.get(name).map_or(name, String::as_str)
    }

    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.get(self.resolve(name))
    }

    fn need(&self, name: &str) -> Result<&Variable, RuntimeError> {
        self.variable(name)
            .ok_or_else(|| RuntimeError::load(format!("the Whisper model has no `{name}`")))
    }

    /// A scalar integer setting (`encoder/num_heads`).
    fn scalar(&self, name: &str) -> Result<usize, RuntimeError> {
        let v = self.need(name)?;
        let b = &self.bytes[v.at.clone()];
        let n = match (v.dtype, b) {
            (Ct2Type::I8, [x]) => i64::from(*x as i8),
            (Ct2Type::I16, [a, c]) => i64::from(i16::from_le_bytes([*a, *c])),
            (Ct2Type::I32, [a, c, d, e]) => i64::from(i32::from_le_bytes([*a, *c, *d, *e])),
            _ => return Err(RuntimeError::load(format!("`{name}` is not an integer"))),
        };
        usize::try_from(n).map_err(|_| RuntimeError::load(format!("`{name}` is negative")))
    }

    /// The variable as an f32 tensor (float16/bfloat16 widened; int8 divided by its row scale).
    pub fn tensor(&self, name: &str) -> Result<Tensor, RuntimeError> {
        // an int8 alias's scale is its target's
        let name = self.resolve(name);
        let v = self.need(name)?;
        let bytes = &self.bytes[v.at.clone()];
        let engine = |e: candle_core::Error| RuntimeError::load(format!("`{name}`: {e}"));
        let t = match v.dtype {
            Ct2Type::F32 => Tensor::from_raw_buffer(bytes, DType::F32, &v.shape, &Device::Cpu),
            Ct2Type::F16 => Tensor::from_raw_buffer(bytes, DType::F16, &v.shape, &Device::Cpu)
                .and_then(|t| t.to_dtype(DType::F32)),
            Ct2Type::BF16 => Tensor::from_raw_buffer(bytes, DType::BF16, &v.shape, &Device::Cpu)
                .and_then(|t| t.to_dtype(DType::F32)),
            Ct2Type::I8 => return self.dequantized(name, v, bytes),
            Ct2Type::I16 | Ct2Type::I32 => {
                return Err(RuntimeError::load(format!("`{name}` is not a weight")))
            }
        };
        t.map_err(engine)
    }

    /// int8 weights: `q / scale`, one scale per output row (`{name}_scale`).
    fn dequantized(&self, name: &str, v: &Variable, q: &[u8]) -> Result<Tensor, RuntimeError> {
        let scale_name = format!("{name}_scale");
        let scales = self
            .tensor(&scale_name)?
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>());
        let scales = scales.map_err(|e| RuntimeError::load(format!("`{scale_name}`: {e}")))?;
        let rows = v.shape.first().copied().unwrap_or(1);
        if rows == 0 || scales.len() != rows || !q.len().is_multiple_of(rows) {
            return Err(RuntimeError::load(format!(
                "`{name}`: scales do not match its rows"
            )));
        }
        let per_row = q.len() / rows;
        let values: Vec<f32> = q
            .iter()
            .enumerate()
            .map(|(i, &b)| f32::from(b as i8) / scales[i / per_row])
            .collect();
        Tensor::from_vec(values, v.shape.as_slice(), &Device::Cpu)
            .map_err(|e| RuntimeError::load(format!("`{name}`: {e}")))
    }

    /// Rows `from..from + n` of a 1- or 2-D variable.
    fn rows(&self, name: &str, from: usize, n: usize) -> Result<Tensor, RuntimeError> {
        self.tensor(name)?
            .narrow(0, from, n)
            .map_err(|e| RuntimeError::load(format!("`{name}`: {e}")))
    }

    fn layers(&self, prefix: &str) -> usize {
        (0..)
            .take_while(|i| {
                self.variables
                    .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    }

    /// The model in the Hugging Face Whisper layout (the names candle's Whisper loads), and its
    /// configuration read off the tensors.
    pub fn whisper(&self) -> Result<(HashMap<String, Tensor>, Config), RuntimeError> {
        if self.spec != "WhisperSpec" {
            return Err(RuntimeError::load(format!(
                "a CTranslate2 `{}` model is not a Whisper model",
                self.spec
            )));
        }
        let conv1 = self.need("encoder/conv1/weight")?;
        let (d, mels) = match conv1.shape.as_slice() {
            [d, mels, 3] => (*d, *mels),
            s => {
                return Err(RuntimeError::load(format!(
                    "encoder/conv1/weight: shape {s:?}"
                )))
            }
        };
        let first = |name: &str| -> Result<usize, RuntimeError> {
            Ok(self.need(name)?.shape.first().copied().unwrap_or(0))
        };
        let config = Config {
            num_mel_bins: mels,
            max_source_positions: first("encoder/position_encodings/encodings")?,
            d_model: d,
            encoder_attention_heads: self.scalar("encoder/num_heads")?,
            encoder_layers: self.layers("encoder"),
            vocab_size: first("decoder/embeddings/weight")?,
            max_target_positions: first("decoder/position_encodings/encodings")?,
            decoder_attention_heads: self.scalar("decoder/num_heads")?,
            decoder_layers: self.layers("decoder"),
            suppress_tokens: Vec::new(),
        };
        let mut out = HashMap::new();
        let mut put = |name: String, t: Tensor| {
            out.insert(name, t);
        };
        for conv in ["conv1", "conv2"] {
            for p in ["weight", "bias"] {
                put(
                    format!("model.encoder.{conv}.{p}"),
                    self.tensor(&format!("encoder/{conv}/{p}"))?,
                );
            }
        }
        put(
            "model.decoder.embed_tokens.weight".into(),
            self.tensor("decoder/embeddings/weight")?,
        );
        put(
            "model.decoder.embed_positions.weight".into(),
            self.tensor("decoder/position_encodings/encodings")?,
        );
        for side in ["encoder", "decoder"] {
            self.norm(
                &mut put,
                &format!("{side}/layer_norm"),
                &format!("model.{side}.layer_norm"),
            )?;
            let layers = match side {
                "encoder" => config.encoder_layers,
                _ => config.decoder_layers,
            };
            for i in 0..layers {
                let from = format!("{side}/layer_{i}");
                let to = format!("model.{side}.layers.{i}");
                self.attention(
                    &mut put,
                    &format!("{from}/self_attention"),
                    &format!("{to}.self_attn"),
                    d,
                    true,
                )?;
                self.norm(
                    &mut put,
                    &format!("{from}/self_attention/layer_norm"),
                    &format!("{to}.self_attn_layer_norm"),
                )?;
                if side == "decoder" {
                    self.attention(
                        &mut put,
                        &format!("{from}/attention"),
                        &format!("{to}.encoder_attn"),
                        d,
                        false,
                    )?;
                    self.norm(
                        &mut put,
                        &format!("{from}/attention/layer_norm"),
                        &format!("{to}.encoder_attn_layer_norm"),
                    )?;
                }
                for (ct2, hf) in [("linear_0", "fc1"), ("linear_1", "fc2")] {
                    for p in ["weight", "bias"] {
                        put(
                            format!("{to}.{hf}.{p}"),
                            self.tensor(&format!("{from}/ffn/{ct2}/{p}"))?,
                        );
                    }
                }
                self.norm(
                    &mut put,
                    &format!("{from}/ffn/layer_norm"),
                    &format!("{to}.final_layer_norm"),
                )?;
            }
        }
        Ok((out, config))
    }

    fn norm(
        &self,
        put: &mut impl FnMut(String, Tensor),
        from: &str,
        to: &str,
    ) -> Result<(), RuntimeError> {
        put(
            format!("{to}.weight"),
            self.tensor(&format!("{from}/gamma"))?,
        );
        put(format!("{to}.bias"), self.tensor(&format!("{from}/beta"))?);
        Ok(())
    }

    /// Q, K, V and the output projection of one attention block. Self-attention has Q, K and V
    /// fused in `linear_0` and the output in `linear_1`; cross-attention has Q in `linear_0`, K
    /// and V fused in `linear_1` and the output in `linear_2`. K has no bias in Whisper.
    fn attention(
        &self,
        put: &mut impl FnMut(String, Tensor),
        from: &str,
        to: &str,
        d: usize,
        fused_qkv: bool,
    ) -> Result<(), RuntimeError> {
        let (qkv, q_at, kv, out) = match fused_qkv {
            true => ("linear_0", 0, ("linear_0", d), "linear_1"),
            false => ("linear_0", 0, ("linear_1", 0), "linear_2"),
        };
        let w = |l: &str| format!("{from}/{l}/weight");
        let b = |l: &str| format!("{from}/{l}/bias");
        put(format!("{to}.q_proj.weight"), self.rows(&w(qkv), q_at, d)?);
        put(format!("{to}.q_proj.bias"), self.rows(&b(qkv), q_at, d)?);
        put(format!("{to}.k_proj.weight"), self.rows(&w(kv.0), kv.1, d)?);
        put(
            format!("{to}.v_proj.weight"),
            self.rows(&w(kv.0), kv.1 + d, d)?,
        );
        put(
            format!("{to}.v_proj.bias"),
            self.rows(&b(kv.0), kv.1 + d, d)?,
        );
        put(format!("{to}.out_proj.weight"), self.tensor(&w(out))?);
        put(format!("{to}.out_proj.bias"), self.tensor(&b(out))?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    fn variable(out: &mut Vec<u8>, name: &str, shape: &[u32], dtype: u8, data: &[u8]) {
        string(out, name);
        out.push(shape.len() as u8);
        for d in shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.push(dtype);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }

    fn file() -> Vec<u8> {
        let mut out = 6u32.to_le_bytes().to_vec();
        string(&mut out, "TestSpec");
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&2u32.to_le_bytes());
        variable(&mut out, "w", &[2, 2], 1, &[2, 4, (-6i8) as u8, 8]);
        let scales: Vec<u8> = [2f32, 4f32].iter().flat_map(|f| f.to_le_bytes()).collect();
        variable(&mut out, "w_scale", &[2], 0, &scales);
        out.extend_from_slice(&1u32.to_le_bytes());
        string(&mut out, "alias");
        string(&mut out, "w");
        out
    }

    #[test]
    fn int8_weights_are_divided_by_their_row_scale_and_aliases_resolve() {
        let m = Ct2Model::parse(file()).unwrap();
        assert_eq!((m.spec.as_str(), m.revision), ("TestSpec", 1));
        let w = m.tensor("alias").unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(w, vec![vec![1.0, 2.0], vec![-1.5, 2.0]]);
        assert!(m.whisper().is_err(), "not a Whisper spec");
    }

    #[test]
    fn a_damaged_file_is_refused_not_read_past_its_end() {
        let whole = file();
        for cut in [0, 3, 10, 30, whole.len() - 1] {
            assert!(
                Ct2Model::parse(whole[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
        let mut version = whole.clone();
        version[0] = 9;
        assert!(Ct2Model::parse(version).is_err());
        // a byte count that does not match the shape
        let mut lying = whole;
        let at = 4 + 2 + 9 + 4 + 4 + 2 + 2 + 1 + 8 + 1;
        lying[at] = 200;
        assert!(Ct2Model::parse(lying).is_err());
    }
}
