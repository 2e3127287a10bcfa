# matrix.hcl: a frozen copy of an earlier sweeps/full.hcl, kept as a test
# fixture: the plan tests count its jobs by hand (see plan_test.go), so it
# must not follow later edits of the real matrix.
#
# full.hcl: the whole InferenceMAX matrix (as published in autumn 2025).
#
#   fleet plan  sweeps/full.hcl --inventory inventory.hcl
#   fleet sweep sweeps/full.hcl --inventory inventory.hcl --only gpu=h200
#
# Models: Llama-3.3-70B (fp8, fp4), DeepSeek-R1-0528 (fp8, fp4) and
# gpt-oss-120b (mxfp4, named fp4 as InferenceMAX does); servers vLLM,
# SGLang and TensorRT-LLM; GPUs H100, H200, B200, MI300X, MI325X, MI355X;
# sequence lengths 1k/1k, 1k/8k and 8k/1k; concurrency 4 to 64, doubling.
#
# The matrix is a table (local.configs) and one `dynamic "config"` block
# turns each row into a config "<model>-<precision>-<gpu>-<framework>",
# every row with all three scenarios. To add a row, copy one; to trim the
# sweep, filter with --only or narrow the concurrency range:
#
#   fleet plan sweeps/full.hcl --var conc_end=16

variable "conc_start" {
  description = "No search band goes below this concurrency."
  default     = 4
}

variable "conc_end" {
  description = "No search band goes above this concurrency."
  default     = 64
}

locals {
  # InferenceMAX's three (ISL, OSL) pairs; the key is the scenario name in
  # job ids and result names.
  seqs = {
    "1k1k" = { isl = 1024, osl = 1024 }
    "1k8k" = { isl = 1024, osl = 8192 }
    "8k1k" = { isl = 8192, osl = 1024 }
  }

  images = {
    vllm         = "vllm/vllm-openai:v0.10.2"
    sglang       = "lmsysorg/sglang:v0.5.2-cu129"
    sglang_b200  = "lmsysorg/sglang:v0.5.2-cu129-b200"
    trt          = "nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"
    rocm_vllm    = "rocm/vllm:rocm7.0.0_vllm_0.10.2_20250917"
    rocm_sglang  = "lmsysorg/sglang:v0.5.2-rocm700-mi30x"
    rocm_sglang5 = "lmsysorg/sglang:v0.5.2-rocm700-mi35x"
  }

  models = {
    llama_fp8     = "nvidia/Llama-3.3-70B-Instruct-FP8"
    llama_fp4     = "nvidia/Llama-3.3-70B-Instruct-FP4"
    llama_fp8_amd = "amd/Llama-3.3-70B-Instruct-FP8-KV"
    llama_fp4_amd = "amd/Llama-3.3-70B-Instruct-MXFP4-Preview"
    dsr1_fp8      = "deepseek-ai/DeepSeek-R1-0528"
    dsr1_fp4      = "nvidia/DeepSeek-R1-0528-FP4-v2"
    dsr1_fp4_amd  = "amd/DeepSeek-R1-0528-MXFP4-Preview"
    gptoss        = "openai/gpt-oss-120b"
  }

  # Search bands. A band is one (tp, ep, dp_attn) over a concurrency range
  # (doubling from conc_start to conc_end); most configs sweep a list of
  # TP sizes over 4..64. The variables conc_start/conc_end clip every band
  # (see the dynamic "search" block below); a band clipped to nothing drops
  # out.
  tp = {
    for name, tps in {
      "1248" = [1, 2, 4, 8]
      "248"  = [2, 4, 8]
      "48"   = [4, 8]
      "8"    = [8]
    } : name => [for t in tps : { tp = t, ep = 1, dp_attn = false, conc_start = 4, conc_end = 64 }]
  }

  # DeepSeek-R1 on TensorRT-LLM adds expert parallelism, with data-parallel
  # attention where batches are large.
  dsr1_trt_fp8 = concat(local.tp["8"], [
    { tp = 8, ep = 8, dp_attn = true, conc_start = 32, conc_end = 64 },
  ])
  dsr1_trt_fp4 = [
    { tp = 4, ep = 1, dp_attn = false, conc_start = 4, conc_end = 32 },
    { tp = 4, ep = 4, dp_attn = false, conc_start = 64, conc_end = 64 },
    { tp = 8, ep = 1, dp_attn = false, conc_start = 4, conc_end = 64 },
    { tp = 8, ep = 8, dp_attn = true, conc_start = 32, conc_end = 64 },
  ]

  # ROCm vLLM runs faster with AITER kernels.
  rocm_env = { VLLM_ROCM_USE_AITER = "1" }

  # The matrix. runner is the GPU type: any node or cluster of that type in
  # the inventory may run the config.
  configs = {
    # Llama-3.3-70B
    "70b-fp8-h100-vllm"   = { model = local.models.llama_fp8, prefix = "70b", precision = "fp8", framework = "vllm", image = local.images.vllm, runner = "h100", bands = local.tp["248"], env = {} }
    "70b-fp8-h200-vllm"   = { model = local.models.llama_fp8, prefix = "70b", precision = "fp8", framework = "vllm", image = local.images.vllm, runner = "h200", bands = local.tp["1248"], env = {} }
    "70b-fp8-h200-trt"    = { model = local.models.llama_fp8, prefix = "70b", precision = "fp8", framework = "trt", image = local.images.trt, runner = "h200", bands = local.tp["1248"], env = {} }
    "70b-fp8-b200-vllm"   = { model = local.models.llama_fp8, prefix = "70b", precision = "fp8", framework = "vllm", image = local.images.vllm, runner = "b200", bands = local.tp["1248"], env = {} }
    "70b-fp8-b200-trt"    = { model = local.models.llama_fp8, prefix = "70b", precision = "fp8", framework = "trt", image = local.images.trt, runner = "b200", bands = local.tp["1248"], env = {} }
    "70b-fp4-b200-vllm"   = { model = local.models.llama_fp4, prefix = "70b", precision = "fp4", framework = "vllm", image = local.images.vllm, runner = "b200", bands = local.tp["1248"], env = {} }
    "70b-fp4-b200-trt"    = { model = local.models.llama_fp4, prefix = "70b", precision = "fp4", framework = "trt", image = local.images.trt, runner = "b200", bands = local.tp["1248"], env = {} }
    "70b-fp8-mi300x-vllm" = { model = local.models.llama_fp8_amd, prefix = "70b", precision = "fp8", framework = "vllm", image = local.images.rocm_vllm, runner = "mi300x", bands = local.tp["1248"], env = local.rocm_env }
    "70b-fp8-mi325x-vllm" = { model = local.models.llama_fp8_amd, prefix = "70b", precision = "fp8", framework = "vllm", image = local.images.rocm_vllm, runner = "mi325x", bands = local.tp["1248"], env = local.rocm_env }
    "70b-fp8-mi355x-vllm" = { model = local.models.llama_fp8_amd, prefix = "70b", precision = "fp8", framework = "vllm", image = local.images.rocm_vllm, runner = "mi355x", bands = local.tp["1248"], env = local.rocm_env }
    "70b-fp4-mi355x-vllm" = { model = local.models.llama_fp4_amd, prefix = "70b", precision = "fp4", framework = "vllm", image = local.images.rocm_vllm, runner = "mi355x", bands = local.tp["1248"], env = local.rocm_env }

    # DeepSeek-R1-0528 (671B): a whole node, or half of one at fp4.
    "dsr1-fp8-h200-sglang"   = { model = local.models.dsr1_fp8, prefix = "dsr1", precision = "fp8", framework = "sglang", image = local.images.sglang, runner = "h200", bands = local.tp["8"], env = {} }
    "dsr1-fp8-h200-trt"      = { model = local.models.dsr1_fp8, prefix = "dsr1", precision = "fp8", framework = "trt", image = local.images.trt, runner = "h200", bands = local.dsr1_trt_fp8, env = {} }
    "dsr1-fp8-b200-sglang"   = { model = local.models.dsr1_fp8, prefix = "dsr1", precision = "fp8", framework = "sglang", image = local.images.sglang_b200, runner = "b200", bands = local.tp["8"], env = {} }
    "dsr1-fp8-b200-trt"      = { model = local.models.dsr1_fp8, prefix = "dsr1", precision = "fp8", framework = "trt", image = local.images.trt, runner = "b200", bands = local.dsr1_trt_fp8, env = {} }
    "dsr1-fp4-b200-sglang"   = { model = local.models.dsr1_fp4, prefix = "dsr1", precision = "fp4", framework = "sglang", image = local.images.sglang_b200, runner = "b200", bands = local.tp["48"], env = {} }
    "dsr1-fp4-b200-trt"      = { model = local.models.dsr1_fp4, prefix = "dsr1", precision = "fp4", framework = "trt", image = local.images.trt, runner = "b200", bands = local.dsr1_trt_fp4, env = {} }
    "dsr1-fp8-mi300x-sglang" = { model = local.models.dsr1_fp8, prefix = "dsr1", precision = "fp8", framework = "sglang", image = local.images.rocm_sglang, runner = "mi300x", bands = local.tp["8"], env = {} }
    "dsr1-fp8-mi325x-sglang" = { model = local.models.dsr1_fp8, prefix = "dsr1", precision = "fp8", framework = "sglang", image = local.images.rocm_sglang, runner = "mi325x", bands = local.tp["8"], env = {} }
    "dsr1-fp8-mi355x-sglang" = { model = local.models.dsr1_fp8, prefix = "dsr1", precision = "fp8", framework = "sglang", image = local.images.rocm_sglang5, runner = "mi355x", bands = local.tp["8"], env = {} }
    "dsr1-fp4-mi355x-sglang" = { model = local.models.dsr1_fp4_amd, prefix = "dsr1", precision = "fp4", framework = "sglang", image = local.images.rocm_sglang5, runner = "mi355x", bands = local.tp["48"], env = {} }

    # gpt-oss-120b (MXFP4 weights, fits one 80 GB GPU only barely: tp >= 2 on H100).
    "gptoss-fp4-h100-vllm"   = { model = local.models.gptoss, prefix = "gptoss", precision = "fp4", framework = "vllm", image = local.images.vllm, runner = "h100", bands = local.tp["248"], env = {} }
    "gptoss-fp4-h200-vllm"   = { model = local.models.gptoss, prefix = "gptoss", precision = "fp4", framework = "vllm", image = local.images.vllm, runner = "h200", bands = local.tp["1248"], env = {} }
    "gptoss-fp4-h200-trt"    = { model = local.models.gptoss, prefix = "gptoss", precision = "fp4", framework = "trt", image = local.images.trt, runner = "h200", bands = local.tp["1248"], env = {} }
    "gptoss-fp4-b200-vllm"   = { model = local.models.gptoss, prefix = "gptoss", precision = "fp4", framework = "vllm", image = local.images.vllm, runner = "b200", bands = local.tp["1248"], env = {} }
    "gptoss-fp4-b200-trt"    = { model = local.models.gptoss, prefix = "gptoss", precision = "fp4", framework = "trt", image = local.images.trt, runner = "b200", bands = local.tp["1248"], env = {} }
    "gptoss-fp4-mi300x-vllm" = { model = local.models.gptoss, prefix = "gptoss", precision = "fp4", framework = "vllm", image = local.images.rocm_vllm, runner = "mi300x", bands = local.tp["1248"], env = local.rocm_env }
    "gptoss-fp4-mi325x-vllm" = { model = local.models.gptoss, prefix = "gptoss", precision = "fp4", framework = "vllm", image = local.images.rocm_vllm, runner = "mi325x", bands = local.tp["1248"], env = local.rocm_env }
    "gptoss-fp4-mi355x-vllm" = { model = local.models.gptoss, prefix = "gptoss", precision = "fp4", framework = "vllm", image = local.images.rocm_vllm, runner = "mi355x", bands = local.tp["1248"], env = local.rocm_env }
  }
}

# InferenceMAX's client: request lengths drawn from [0.8, 1] x isl/osl,
# 10 x conc prompts after 2 x conc warmups, p99 next to the medians.
client {
  range_ratio      = 0.8
  prompts_per_conc = 10
  warmups_per_conc = 2
  percentiles      = [99]
}

settings {
  retries = 2
  timeouts {
    server_start = "20m" # DeepSeek-R1 loads 671B parameters
    benchmark    = "60m" # 1k8k at conc 64: 640 requests of 8192 tokens
    job          = "90m"
  }
}

dynamic "config" {
  for_each = local.configs
  labels   = [config.key]
  content {
    image        = config.value.image
    model        = config.value.model
    model_prefix = config.value.prefix
    precision    = config.value.precision
    framework    = config.value.framework
    runner       = config.value.runner
    env          = config.value.env

    dynamic "scenario" {
      for_each = local.seqs
      labels   = [scenario.key]
      content {
        isl = scenario.value.isl
        osl = scenario.value.osl

        dynamic "search" {
          # Each band clipped to [var.conc_start, var.conc_end].
          for_each = [
            for b in config.value.bands : merge(b, {
              conc_start = max(b.conc_start, var.conc_start)
              conc_end   = min(b.conc_end, var.conc_end)
            }) if max(b.conc_start, var.conc_start) <= min(b.conc_end, var.conc_end)
          ]
          content {
            tp         = search.value.tp
            ep         = search.value.ep
            dp_attn    = search.value.dp_attn
            conc_start = search.value.conc_start
            conc_end   = search.value.conc_end
          }
        }
      }
    }
  }
}
