#!/usr/bin/env python3
"""A tiny OpenAI-compatible completions server on a GPU, for fleet's GPU
smoke check (scripts/gpu-smoke.sh).

It builds a small Llama-architecture transformer with random weights
(transformers' LlamaConfig, no download), and serves /health, /v1/models
and /v1/completions with streaming in vLLM's wire format (token-id
prompts, stream_options.include_usage, ignore_eos). A scheduler thread
batches the running requests: each step prefills the newly admitted
prompts one by one and then decodes one token for every running request
in a single batched forward pass over a static KV cache, so the numbers
fleet bench measures move with concurrency as a real server's do.

Only the standard library, torch and transformers are needed.
"""

import argparse
import json
import queue
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default="smoke-llama-tiny", help="the model name requests must use")
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--max-num-seqs", type=int, default=64, help="requests decoded together at most")
    p.add_argument("--hidden-size", type=int, default=1024)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--device", default="cuda")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


class Request:
    def __init__(self, prompt, max_tokens):
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.out = queue.Queue()  # token ids, then None when done
        self.generated = 0
        self.slot = -1
        self.pos = 0
        self.last = 0
        self.cancelled = False


class Engine:
    """Continuous batching over a fixed number of KV-cache slots."""

    def __init__(self, args):
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        self.torch = torch
        torch.manual_seed(args.seed)
        dtype = getattr(torch, args.dtype)
        cfg = LlamaConfig(
            vocab_size=args.vocab_size,
            hidden_size=args.hidden_size,
            intermediate_size=args.hidden_size * 4,
            num_hidden_layers=args.layers,
            num_attention_heads=args.heads,
            num_key_value_heads=args.heads,
            max_position_embeddings=args.max_model_len,
        )
        self.device = torch.device(args.device)
        self.model = LlamaForCausalLM(cfg).to(device=self.device, dtype=dtype).eval()
        self.vocab = args.vocab_size
        self.max_len = args.max_model_len
        self.slots = args.max_num_seqs
        head_dim = args.hidden_size // args.heads
        # One K and one V tensor per layer: [slots, heads, max_len, head_dim].
        shape = (self.slots, args.heads, self.max_len, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=self.device) for _ in range(args.layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=self.device) for _ in range(args.layers)]
        self.free = list(range(self.slots))
        self.waiting = queue.Queue()
        self.running = []
        self.stop = threading.Event()
        self.layers = args.layers
        self.heads = args.heads
        self.head_dim = head_dim

    def submit(self, req):
        self.waiting.put(req)

    def _forward(self, ids, slots, positions):
        """One forward pass of tokens ids[b, t] for requests in slots[b]
        at positions[b] + t, reading and writing the static KV cache.
        Returns the logits of the last token of each row."""
        torch = self.torch
        m = self.model.model
        x = m.embed_tokens(ids)
        b, t = ids.shape
        pos = positions[:, None] + torch.arange(t, device=self.device)[None, :]
        cos, sin = m.rotary_emb(x, pos)
        slot_idx = torch.tensor(slots, device=self.device)
        lengths = positions + t
        kv_len = int(lengths.max().item())
        # Row r attends to cache positions [0, positions[r] + i] for its
        # token i: causal within the new tokens, all of its own past.
        key_pos = torch.arange(kv_len, device=self.device)[None, None, :]
        allowed = key_pos <= pos[:, :, None]
        mask = torch.zeros((b, 1, t, kv_len), dtype=x.dtype, device=self.device)
        mask.masked_fill_(~allowed[:, None, :, :], torch.finfo(x.dtype).min)
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        for li, layer in enumerate(m.layers):
            h = layer.input_layernorm(x)
            attn = layer.self_attn
            q = attn.q_proj(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            for r in range(b):
                p0 = int(positions[r].item())
                self.k[li][slots[r], :, p0:p0 + t] = k[r]
                self.v[li][slots[r], :, p0:p0 + t] = v[r]
            kc = self.k[li].index_select(0, slot_idx)[:, :, :kv_len]
            vc = self.v[li].index_select(0, slot_idx)[:, :, :kv_len]
            o = torch.nn.functional.scaled_dot_product_attention(q, kc, vc, attn_mask=mask)
            o = o.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
            x = x + attn.o_proj(o)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        x = m.norm(x[:, -1:, :])
        return self.model.lm_head(x)[:, -1, :]

    def _finish(self, req):
        req.out.put(None)
        if req.slot >= 0:
            self.free.append(req.slot)
            req.slot = -1

    def run(self):
        torch = self.torch
        with torch.inference_mode():
            while not self.stop.is_set():
                # Admit and prefill new requests while slots are free.
                while self.free:
                    try:
                        req = self.waiting.get(timeout=0 if self.running else 0.05)
                    except queue.Empty:
                        break
                    ids = [i % self.vocab for i in req.prompt][: self.max_len - 1] or [1]
                    req.max_tokens = max(0, min(req.max_tokens, self.max_len - len(ids)))
                    req.slot = self.free.pop()
                    t = torch.tensor([ids], device=self.device)
                    logits = self._forward(t, [req.slot], torch.tensor([0], device=self.device))
                    req.pos = len(ids)
                    req.last = int(logits.argmax(-1).item())
                    if req.max_tokens == 0:
                        self._finish(req)
                        continue
                    req.generated = 1
                    req.out.put(req.last)
                    if req.generated >= req.max_tokens:
                        self._finish(req)
                    else:
                        self.running.append(req)
                for r in [r for r in self.running if r.cancelled]:
                    self._finish(r)
                self.running = [r for r in self.running if not r.cancelled]
                if not self.running:
                    continue
                # One decode step for every running request, batched.
                batch = self.running
                ids = torch.tensor([[r.last] for r in batch], device=self.device)
                positions = torch.tensor([r.pos for r in batch], device=self.device)
                logits = self._forward(ids, [r.slot for r in batch], positions)
                nxt = logits.argmax(-1).tolist()
                still = []
                for r, tok in zip(batch, nxt):
                    r.pos += 1
                    r.last = tok
                    r.generated += 1
                    r.out.put(tok)
                    if r.generated >= r.max_tokens or r.pos >= self.max_len:
                        self._finish(r)
                    else:
                        still.append(r)
                self.running = still


def make_handler(engine, args, ready):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # request lines would flood the log
            pass

        def _json(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                if ready.is_set():
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(503, {"error": "loading"})
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": args.model, "object": "model", "max_model_len": args.max_model_len}]})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self):
            if self.path != "/v1/completions":
                self._json(404, {"error": "not found"})
                return
            try:
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
            except (ValueError, json.JSONDecodeError) as e:
                self._json(400, {"error": {"message": f"bad request: {e}"}})
                return
            if body.get("model") != args.model:
                self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                return
            prompt = body.get("prompt", "")
            if isinstance(prompt, str):
                ids = list(prompt.encode())
            elif isinstance(prompt, list) and all(isinstance(i, int) for i in prompt):
                ids = prompt
            else:
                self._json(400, {"error": {"message": "prompt must be a string or a list of token ids"}})
                return
            req = Request(ids, int(body.get("max_tokens") or 16))
            engine.submit(req)
            rid = "cmpl-" + uuid.uuid4().hex
            created = int(time.time())
            if not body.get("stream"):
                toks = []
                while (t := req.out.get()) is not None:
                    toks.append(t)
                self._json(200, {"id": rid, "object": "text_completion", "created": created, "model": args.model,
                                 "choices": [{"index": 0, "text": "".join(f" t{t}" for t in toks), "finish_reason": "length"}],
                                 "usage": {"prompt_tokens": len(ids), "completion_tokens": len(toks), "total_tokens": len(ids) + len(toks)}})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

            def chunk(choices, usage=None):
                obj = {"id": rid, "object": "text_completion", "created": created, "model": args.model, "choices": choices}
                if usage is not None:
                    obj["usage"] = usage
                self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
                self.wfile.flush()

            count = 0
            try:
                while (t := req.out.get()) is not None:
                    count += 1
                    chunk([{"index": 0, "text": f" t{t}", "logprobs": None, "finish_reason": None, "stop_reason": None}])
                chunk([{"index": 0, "text": "", "logprobs": None, "finish_reason": "length", "stop_reason": None}])
                if (body.get("stream_options") or {}).get("include_usage"):
                    chunk([], {"prompt_tokens": len(ids), "completion_tokens": count, "total_tokens": len(ids) + count})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                req.cancelled = True

    return Handler


def main(argv):
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu-smoke server: CUDA is not available", file=sys.stderr)
        return 1
    ready = threading.Event()
    engine = Engine(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(engine, args, ready))
    server.daemon_threads = True
    worker = threading.Thread(target=engine.run, daemon=True)
    worker.start()
    # Warm up the kernels before announcing readiness.
    warm = Request(list(range(64)), 4)
    engine.submit(warm)
    while warm.out.get() is not None:
        pass
    n = sum(p.numel() for p in engine.model.parameters())
    print(f"gpu-smoke server: {n / 1e6:.0f}M random parameters on {engine.device}, "
          f"{args.max_num_seqs} slots of {args.max_model_len} tokens", flush=True)
    ready.set()

    def stop(signum, frame):
        engine.stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"Application startup complete. Serving {args.model} on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
