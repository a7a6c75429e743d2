"""DeepSeek-V2 in PyTorch, for training the default model: the same function the engine runs.

Read top-down as the paper (DeepSeek-V2, arXiv 2405.04434) and the fixtures' README ("Reference behaviour"):

    h = x + MLA(RMSNorm(x));  out = h + FFN(RMSNorm(h))      FFN = dense MLP in the first k layers, else MoE

MLA (multi-head latent attention, decoupled RoPE):
    c_kv = RMSNorm(W_DKV x)  (kv_lora_rank)         k_pe = RoPE(W_KR x)  (qk_rope_head_dim, one for all heads)
    [k_nope_h | v_h] = W_UKV c_kv                   [q_nope_h | q_pe_h] = W_Q x  (or W_UQ RMSNorm(W_DQ x))
    score_h = ([q_nope_h | RoPE(q_pe_h)] . [k_nope_h | k_pe]) * softmax_scale
DeepSeekMoE: out = sum_k g_k E_k(x) + shared(x), g = top-k of softmax(W_gate x) (greedy or group-limited).

Parameter names are the Hugging Face state_dict keys, so a checkpoint saves and loads with no renaming.
"""
import math
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DeepseekV2Config:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    moe_intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    q_lora_rank: Optional[int] = None
    n_routed_experts: Optional[int] = None
    n_shared_experts: Optional[int] = None
    num_experts_per_tok: Optional[int] = None
    first_k_dense_replace: int = 0
    moe_layer_freq: int = 1
    topk_method: str = 'greedy'
    n_group: Optional[int] = None
    topk_group: Optional[int] = None
    norm_topk_prob: bool = False
    routed_scaling_factor: float = 1.0
    scoring_func: str = 'softmax'
    aux_loss_alpha: float = 0.001
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: Optional[dict] = None
    max_position_embeddings: int = 2048
    bos_token_id: int = 0
    eos_token_id: int = 1
    extra: dict = field(default_factory=dict)

    @staticmethod
    def from_dict(d):
        known = {k: v for k, v in d.items() if k in DeepseekV2Config.__dataclass_fields__ and k != 'extra'}
        return DeepseekV2Config(**known, extra={k: v for k, v in d.items() if k not in known})

    def is_moe_layer(self, i):
        return (self.n_routed_experts is not None and i >= self.first_k_dense_replace
                and i % self.moe_layer_freq == 0)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def yarn_mscale(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


class RotaryEmbedding(nn.Module):
    """RoPE tables, with DeepSeek's YaRN when config.rope_scaling says so (static frequencies)."""

    def __init__(self, config: DeepseekV2Config):
        super().__init__()
        dim, base = config.qk_rope_head_dim, config.rope_theta
        extra = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
        self.multiplier = 1.0
        scaling = config.rope_scaling
        if scaling is None:
            inv_freq = extra
        elif scaling.get('type') == 'yarn':
            factor = scaling['factor']
            original = scaling['original_max_position_embeddings']
            beta_fast, beta_slow = scaling.get('beta_fast', 32), scaling.get('beta_slow', 1)

            def correction_dim(n):
                return dim * math.log(original / (n * 2 * math.pi)) / (2 * math.log(base))

            low = max(math.floor(correction_dim(beta_fast)), 0)
            high = min(math.ceil(correction_dim(beta_slow)), dim - 1)
            if low == high:
                high += 0.001
            ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
            inv_freq = (extra / factor) * ramp + extra * (1 - ramp)
            self.multiplier = (yarn_mscale(factor, scaling.get('mscale', 1))
                               / yarn_mscale(factor, scaling.get('mscale_all_dim', 0)))
        else:
            raise ValueError(f"rope_scaling type {scaling.get('type')!r} is not supported (only yarn)")
        self.register_buffer('inv_freq', inv_freq, persistent=False)

    def forward(self, positions):
        freqs = torch.outer(positions.to(torch.float32), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos() * self.multiplier, emb.sin() * self.multiplier


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, cos, sin):
    """The checkpoint stores rope dims as interleaved pairs: de-interleave, then rotate_half (result half-split)."""
    *lead, d = x.shape
    x = x.view(*lead, d // 2, 2).transpose(-1, -2).reshape(*lead, d)
    return x * cos + rotate_half(x) * sin


class MultiHeadLatentAttention(nn.Module):
    def __init__(self, config: DeepseekV2Config):
        super().__init__()
        c = config
        self.heads, self.nope, self.rope, self.v_dim, self.rank = (
            c.num_attention_heads, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim, c.kv_lora_rank)
        q_dim = self.heads * (self.nope + self.rope)
        if c.q_lora_rank is None:
            self.q_proj = nn.Linear(c.hidden_size, q_dim, bias=False)
        else:
            self.q_a_proj = nn.Linear(c.hidden_size, c.q_lora_rank, bias=False)
            self.q_a_layernorm = RMSNorm(c.q_lora_rank)
            self.q_b_proj = nn.Linear(c.q_lora_rank, q_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(c.hidden_size, self.rank + self.rope, bias=False)
        self.kv_a_layernorm = RMSNorm(self.rank)  # eps 1e-6 always, as the reference builds it
        self.kv_b_proj = nn.Linear(self.rank, self.heads * (self.nope + self.v_dim), bias=False)
        self.o_proj = nn.Linear(self.heads * self.v_dim, c.hidden_size, bias=False)
        self.softmax_scale = (self.nope + self.rope) ** -0.5
        if c.rope_scaling and c.rope_scaling.get('mscale_all_dim'):
            m = yarn_mscale(c.rope_scaling['factor'], c.rope_scaling['mscale_all_dim'])
            self.softmax_scale *= m * m

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x) if hasattr(self, 'q_proj') else self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
        q = q.view(b, t, self.heads, self.nope + self.rope).transpose(1, 2)
        q_nope, q_pe = q.split([self.nope, self.rope], dim=-1)
        c_kv, k_pe = self.kv_a_proj_with_mqa(x).split([self.rank, self.rope], dim=-1)
        kv = self.kv_b_proj(self.kv_a_layernorm(c_kv)).view(b, t, self.heads, self.nope + self.v_dim).transpose(1, 2)
        k_nope, v = kv.split([self.nope, self.v_dim], dim=-1)
        q_pe = apply_rope(q_pe, cos, sin)
        k_pe = apply_rope(k_pe.unsqueeze(1), cos, sin)  # one rope key shared by every head
        scores = (q_nope @ k_nope.transpose(-1, -2) + q_pe @ k_pe.transpose(-1, -2)) * self.softmax_scale
        probs = F.softmax(scores.float() + mask, dim=-1).to(v.dtype)
        out = (probs @ v).transpose(1, 2).reshape(b, t, self.heads * self.v_dim)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, hidden, inner):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inner, bias=False)
        self.up_proj = nn.Linear(hidden, inner, bias=False)
        self.down_proj = nn.Linear(inner, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MoEGate(nn.Module):
    """Router: softmax over all routed experts in fp32, then greedy or group-limited top-k."""

    def __init__(self, config: DeepseekV2Config):
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.empty(config.n_routed_experts, config.hidden_size))

    def forward(self, x):
        c = self.config
        scores = F.softmax(F.linear(x.float(), self.weight.float()), dim=-1)
        if c.topk_method == 'greedy':
            eligible = scores
        elif c.topk_method == 'group_limited_greedy':
            groups = scores.view(scores.shape[0], c.n_group, -1)
            keep = groups.max(dim=-1).values.topk(c.topk_group, dim=-1).indices
            group_mask = torch.zeros_like(groups[..., 0]).scatter_(1, keep, 1.0)
            eligible = (groups * group_mask.unsqueeze(-1)).view_as(scores)
        else:
            raise ValueError(f'topk_method {c.topk_method!r} is not supported')
        weight, index = eligible.topk(c.num_experts_per_tok, dim=-1)
        weight = scores.gather(1, index)
        if c.num_experts_per_tok > 1 and c.norm_topk_prob:
            weight = weight / (weight.sum(dim=-1, keepdim=True) + 1e-20)
        else:
            weight = weight * c.routed_scaling_factor
        return index, weight, scores


class MoE(nn.Module):
    def __init__(self, config: DeepseekV2Config):
        super().__init__()
        self.config = config
        self.experts = nn.ModuleList(MLP(config.hidden_size, config.moe_intermediate_size)
                                     for _ in range(config.n_routed_experts))
        self.gate = MoEGate(config)
        self.shared_experts = MLP(config.hidden_size, config.moe_intermediate_size * config.n_shared_experts)
        self.aux_loss = None

    def forward(self, x):
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        index, weight, scores = self.gate(flat)
        routed = torch.zeros(flat.shape, dtype=torch.float32, device=x.device)
        for e, expert in enumerate(self.experts):
            rows, slot = (index == e).nonzero(as_tuple=True)
            if rows.numel():
                out = expert(flat[rows]).float() * weight[rows, slot].unsqueeze(-1)
                routed.index_add_(0, rows, out)
        if self.training:
            # DeepSeek-V2's expert-level balance loss: alpha * sum_i f_i P_i.
            k, n = self.config.num_experts_per_tok, self.config.n_routed_experts
            counts = torch.bincount(index.flatten(), minlength=n).float()
            f = counts * n / (k * flat.shape[0])
            self.aux_loss = self.config.aux_loss_alpha * (f * scores.mean(0)).sum()
        return routed.to(x.dtype).view(shape) + self.shared_experts(x)


class DecoderLayer(nn.Module):
    def __init__(self, config: DeepseekV2Config, i):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = MultiHeadLatentAttention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MoE(config) if config.is_moe_layer(i) else MLP(config.hidden_size, config.intermediate_size)

    def forward(self, h, cos, sin, mask):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class DeepseekV2Body(nn.Module):
    def __init__(self, config: DeepseekV2Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class DeepseekV2ForCausalLM(nn.Module):
    def __init__(self, config: DeepseekV2Config):
        super().__init__()
        self.config = config
        self.model = DeepseekV2Body(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.rotary = RotaryEmbedding(config)

    def forward(self, input_ids):
        """input_ids [batch, seq] -> logits [batch, seq, vocab] (float32), positions 0..seq-1, causal."""
        t = input_ids.shape[1]
        cos, sin = self.rotary(torch.arange(t, device=input_ids.device))
        mask = torch.full((t, t), torch.finfo(torch.float32).min, device=input_ids.device).triu(1)
        h = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            h = layer(h, cos, sin, mask)
        return self.lm_head(self.model.norm(h)).float()

    def aux_loss(self):
        losses = [layer.mlp.aux_loss for layer in self.model.layers
                  if isinstance(layer.mlp, MoE) and layer.mlp.aux_loss is not None]
        return sum(losses) if losses else torch.zeros(())
