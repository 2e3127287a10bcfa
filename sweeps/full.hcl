# full.hcl: the whole InferenceMAX matrix, as published in autumn 2025:
# every (model, precision, GPU, framework) entry of its master config, with
# its image and, per sequence-length pair, its search bands (tp, ep,
# dp_attn over a concurrency range that doubles from start to end).
#
#   fleet plan  sweeps/full.hcl --inventory inventory.hcl
#   fleet sweep sweeps/full.hcl --inventory inventory.hcl --only gpu=h200
#
# Models: Llama-3.3-70B (fp8, fp4), DeepSeek-R1-0528 (fp8, fp4) and
# gpt-oss-120b (mxfp4, named fp4 as InferenceMAX does); servers vLLM,
# SGLang and TensorRT-LLM; GPUs H100, H200, B200, MI300X, MI325X, MI355X;
# sequence lengths 1k/1k, 1k/8k and 8k/1k; concurrency 4 to 256.
# Per-framework server settings (kv-cache dtype, MoE backend, ...) are the
# launchers' business: scripts/server/{vllm,sglang,trt}.sh.
#
# The matrix is a table (local.configs) and one `dynamic "config"` block
# turns each row into a config. To trim it, filter with --only (model
# matches the model or its prefix: 70b, dsr1, gptoss) or clip every band's
# concurrency range; one model's quick run:
#
#   fleet plan sweeps/full.hcl --only model=dsr1 --only seq=1k1k --var conc_end=64

variable "conc_start" {
  description = "No search band goes below this concurrency."
  default     = 4
}

variable "conc_end" {
  description = "No search band goes above this concurrency."
  default     = 256
}

locals {
  # InferenceMAX's three (ISL, OSL) pairs; the key is the scenario name in
  # job ids and result names.
  seqs = {
    "1k1k" = { isl = 1024, osl = 1024 }
    "1k8k" = { isl = 1024, osl = 8192 }
    "8k1k" = { isl = 8192, osl = 1024 }
  }

  # Images as InferenceMAX pinned them (registry paths in docker's form;
  # fleet converts them for enroot).
  images = {
    vllm              = "vllm/vllm-openai:v0.10.2"
    sglang_h200       = "lmsysorg/sglang:v0.5.2rc2-cu126"
    sglang_b200       = "lmsysorg/sglang:v0.5.3rc1-cu129-b200"
    trt               = "nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"
    trt_gptoss_b200   = "nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc0.post1"
    trt_gptoss_h200   = "nvcr.io/nvidia/tensorrt-llm/release:gpt-oss-dev"
    rocm_vllm         = "rocm/7.0:rocm7.0_ubuntu_22.04_vllm_0.10.1_instinct_20250927_rc1"
    rocm_sglang_mi30x = "rocm/7.0:rocm7.0_ubuntu_22.04_sgl-dev-v0.5.2-rocm7.0-mi30x-20250915"
    rocm_sglang_mi35x = "rocm/7.0:rocm7.0_ubuntu_22.04_sgl-dev-v0.5.2-rocm7.0-mi35x-20250915"
  }

  models = {
    llama_fp8     = "nvidia/Llama-3.3-70B-Instruct-FP8"
    llama_fp4     = "nvidia/Llama-3.3-70B-Instruct-FP4"
    llama_fp8_amd = "amd/Llama-3.3-70B-Instruct-FP8-KV"
    llama_fp4_amd = "amd/Llama-3.3-70B-Instruct-MXFP4-Preview"
    dsr1_fp8      = "deepseek-ai/DeepSeek-R1-0528"
    dsr1_fp4      = "nvidia/DeepSeek-R1-0528-FP4-V2"
    dsr1_fp4_amd  = "amd/DeepSeek-R1-0528-MXFP4-Preview"
    gptoss        = "openai/gpt-oss-120b"
  }

  # The matrix: config key => model, image, framework, precision, runner
  # (the GPU type: any node or cluster of that type may run it) and, per
  # scenario, its bands: { tp, ep (1), dp_attn (false), conc = [start, end] }.
  # DeepSeek-R1 fp4 on TensorRT-LLM shows the typical shape: TP alone at
  # low concurrency, expert parallelism from the middle, data-parallel
  # attention at the top.
  configs = {
    # Llama-3.3-70B
    "70b-fp4-b200-trt" = {
      model = local.models.llama_fp4, image = local.images.trt, framework = "trt", precision = "fp4", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [128, 128] }, { tp = 2, conc = [64, 128] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 16] }]
        "1k8k" = [{ tp = 1, conc = [128, 128] }, { tp = 2, conc = [64, 128] }, { tp = 4, conc = [16, 128] }, { tp = 8, conc = [4, 32] }]
        "8k1k" = [{ tp = 1, conc = [32, 128] }, { tp = 2, conc = [16, 128] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 16] }]
      }
    }
    "70b-fp4-b200-vllm" = {
      model = local.models.llama_fp4, image = local.images.vllm, framework = "vllm", precision = "fp4", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 16] }]
        "1k8k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 32] }]
        "8k1k" = [{ tp = 1, conc = [16, 64] }, { tp = 2, conc = [16, 64] }, { tp = 4, conc = [4, 32] }, { tp = 8, conc = [4, 8] }]
      }
    }
    "70b-fp4-mi355x-vllm" = {
      model = local.models.llama_fp4_amd, image = local.images.rocm_vllm, framework = "vllm", precision = "fp4", runner = "mi355x"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [4, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 16] }]
        "1k8k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [4, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 16] }]
        "8k1k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [4, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 16] }]
      }
    }
    "70b-fp8-b200-trt" = {
      model = local.models.llama_fp8, image = local.images.trt, framework = "trt", precision = "fp8", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [128, 128] }, { tp = 2, conc = [64, 128] }, { tp = 4, conc = [4, 128] }, { tp = 8, conc = [4, 32] }]
        "1k8k" = [{ tp = 1, conc = [128, 128] }, { tp = 2, conc = [64, 128] }, { tp = 4, conc = [16, 128] }, { tp = 8, conc = [4, 32] }]
        "8k1k" = [{ tp = 1, conc = [32, 128] }, { tp = 2, conc = [16, 128] }, { tp = 4, conc = [4, 128] }, { tp = 8, conc = [4, 16] }]
      }
    }
    "70b-fp8-b200-vllm" = {
      model = local.models.llama_fp8, image = local.images.vllm, framework = "vllm", precision = "fp8", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, conc = [64, 64] }, { tp = 4, conc = [16, 64] }, { tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [16, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 32] }]
      }
    }
    "70b-fp8-h100-vllm" = {
      model = local.models.llama_fp8, image = local.images.vllm, framework = "vllm", precision = "fp8", runner = "h100"
      seqs = {
        "1k1k" = [{ tp = 2, conc = [64, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 2, conc = [64, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
      }
    }
    "70b-fp8-h200-trt" = {
      model = local.models.llama_fp8, image = local.images.trt, framework = "trt", precision = "fp8", runner = "h200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [128, 128] }, { tp = 2, conc = [64, 128] }, { tp = 4, conc = [4, 128] }, { tp = 8, conc = [4, 32] }]
        "1k8k" = [{ tp = 1, conc = [128, 128] }, { tp = 2, conc = [64, 128] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 32] }]
        "8k1k" = [{ tp = 1, conc = [16, 128] }, { tp = 4, conc = [4, 128] }, { tp = 8, conc = [4, 32] }]
      }
    }
    "70b-fp8-h200-vllm" = {
      model = local.models.llama_fp8, image = local.images.vllm, framework = "vllm", precision = "fp8", runner = "h200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, conc = [64, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 1, conc = [16, 64] }, { tp = 2, conc = [16, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
      }
    }
    "70b-fp8-mi300x-vllm" = {
      model = local.models.llama_fp8_amd, image = local.images.rocm_vllm, framework = "vllm", precision = "fp8", runner = "mi300x"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, conc = [64, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
      }
    }
    "70b-fp8-mi325x-vllm" = {
      model = local.models.llama_fp8_amd, image = local.images.rocm_vllm, framework = "vllm", precision = "fp8", runner = "mi325x"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [32, 64] }, { tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [64, 64] }, { tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 1, conc = [16, 64] }, { tp = 2, conc = [4, 32] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
      }
    }
    "70b-fp8-mi355x-vllm" = {
      model = local.models.llama_fp8_amd, image = local.images.rocm_vllm, framework = "vllm", precision = "fp8", runner = "mi355x"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, conc = [32, 64] }, { tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
      }
    }

    # DeepSeek-R1-0528 (671B): a whole node, or half of one at fp4.
    "dsr1-fp4-b200-sglang" = {
      model = local.models.dsr1_fp4, image = local.images.sglang_b200, framework = "sglang", precision = "fp4", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 4, ep = 4, conc = [4, 128] }, { tp = 8, ep = 8, conc = [4, 128] }]
        "1k8k" = [{ tp = 4, ep = 4, conc = [4, 128] }, { tp = 8, ep = 8, conc = [4, 128] }]
        "8k1k" = [{ tp = 4, ep = 4, conc = [4, 128] }, { tp = 8, ep = 8, conc = [4, 16] }]
      }
    }
    "dsr1-fp4-b200-trt" = {
      model = local.models.dsr1_fp4, image = local.images.trt, framework = "trt", precision = "fp4", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 4, conc = [4, 32] }, { tp = 4, ep = 4, conc = [64, 128] }, { tp = 4, ep = 4, dp_attn = true, conc = [256, 256] }, { tp = 8, conc = [4, 8] }, { tp = 8, ep = 8, conc = [16, 128] }, { tp = 8, ep = 8, dp_attn = true, conc = [256, 256] }]
        "1k8k" = [{ tp = 4, conc = [4, 32] }, { tp = 4, ep = 4, conc = [64, 128] }, { tp = 4, ep = 4, dp_attn = true, conc = [256, 256] }, { tp = 8, conc = [4, 16] }, { tp = 8, ep = 8, conc = [32, 128] }, { tp = 8, ep = 8, dp_attn = true, conc = [256, 256] }]
        "8k1k" = [{ tp = 4, ep = 4, conc = [4, 32] }, { tp = 4, ep = 4, dp_attn = true, conc = [64, 256] }, { tp = 8, conc = [4, 32] }, { tp = 8, ep = 8, dp_attn = true, conc = [64, 256] }]
      }
    }
    "dsr1-fp4-mi355x-sglang" = {
      model = local.models.dsr1_fp4_amd, image = local.images.rocm_sglang_mi35x, framework = "sglang", precision = "fp4", runner = "mi355x"
      seqs = {
        "1k1k" = [{ tp = 4, conc = [4, 64] }, { tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 8, conc = [4, 64] }]
      }
    }
    "dsr1-fp8-b200-sglang" = {
      model = local.models.dsr1_fp8, image = local.images.sglang_b200, framework = "sglang", precision = "fp8", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
      }
    }
    "dsr1-fp8-b200-trt" = {
      model = local.models.dsr1_fp8, image = local.images.trt, framework = "trt", precision = "fp8", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 8, ep = 8, conc = [4, 32] }, { tp = 8, ep = 8, dp_attn = true, conc = [64, 64] }]
        "1k8k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
      }
    }
    "dsr1-fp8-h200-sglang" = {
      model = local.models.dsr1_fp8, image = local.images.sglang_h200, framework = "sglang", precision = "fp8", runner = "h200"
      seqs = {
        "1k1k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
      }
    }
    "dsr1-fp8-h200-trt" = {
      model = local.models.dsr1_fp8, image = local.images.trt, framework = "trt", precision = "fp8", runner = "h200"
      seqs = {
        "1k1k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 8, ep = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 8, ep = 8, conc = [4, 32] }, { tp = 8, ep = 8, dp_attn = true, conc = [64, 64] }]
      }
    }
    "dsr1-fp8-mi300x-sglang" = {
      model = local.models.dsr1_fp8, image = local.images.rocm_sglang_mi30x, framework = "sglang", precision = "fp8", runner = "mi300x"
      seqs = {
        "1k1k" = [{ tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 8, conc = [4, 64] }]
      }
    }
    "dsr1-fp8-mi325x-sglang" = {
      model = local.models.dsr1_fp8, image = local.images.rocm_sglang_mi30x, framework = "sglang", precision = "fp8", runner = "mi325x"
      seqs = {
        "1k1k" = [{ tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 8, conc = [4, 64] }]
      }
    }
    "dsr1-fp8-mi355x-sglang" = {
      model = local.models.dsr1_fp8, image = local.images.rocm_sglang_mi35x, framework = "sglang", precision = "fp8", runner = "mi355x"
      seqs = {
        "1k1k" = [{ tp = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 8, conc = [4, 64] }]
      }
    }

    # gpt-oss-120b (MXFP4 weights).
    "gptoss-fp4-b200-trt" = {
      model = local.models.gptoss, image = local.images.trt_gptoss_b200, framework = "trt", precision = "fp4", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 8] }]
        "1k8k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 8] }]
        "8k1k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 8] }]
      }
    }
    "gptoss-fp4-b200-vllm" = {
      model = local.models.gptoss, image = local.images.vllm, framework = "vllm", precision = "fp4", runner = "b200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 8] }]
        "1k8k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 8] }]
        "8k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 64] }]
      }
    }
    "gptoss-fp4-h100-vllm" = {
      model = local.models.gptoss, image = local.images.vllm, framework = "vllm", precision = "fp4", runner = "h100"
      seqs = {
        "1k1k" = [{ tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 32] }]
      }
    }
    "gptoss-fp4-h200-trt" = {
      model = local.models.gptoss, image = local.images.trt_gptoss_h200, framework = "trt", precision = "fp4", runner = "h200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 32] }, { tp = 8, ep = 8, conc = [4, 8] }]
        "1k8k" = [{ tp = 1, conc = [32, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 64] }]
      }
    }
    "gptoss-fp4-h200-vllm" = {
      model = local.models.gptoss, image = local.images.vllm, framework = "vllm", precision = "fp4", runner = "h200"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 1, conc = [4, 16] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 32] }]
      }
    }
    "gptoss-fp4-mi300x-vllm" = {
      model = local.models.gptoss, image = local.images.rocm_vllm, framework = "vllm", precision = "fp4", runner = "mi300x"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 16] }]
        "1k8k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 16] }]
        "8k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 16] }]
      }
    }
    "gptoss-fp4-mi325x-vllm" = {
      model = local.models.gptoss, image = local.images.rocm_vllm, framework = "vllm", precision = "fp4", runner = "mi325x"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 2, ep = 2, conc = [4, 64] }, { tp = 4, ep = 4, conc = [4, 64] }, { tp = 8, ep = 8, conc = [4, 64] }]
        "1k8k" = [{ tp = 1, conc = [64, 64] }, { tp = 2, conc = [4, 64] }, { tp = 4, conc = [64, 64] }, { tp = 8, conc = [4, 64] }]
        "8k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 2, conc = [4, 8] }, { tp = 4, conc = [4, 8] }, { tp = 8, conc = [4, 16] }]
      }
    }
    "gptoss-fp4-mi355x-vllm" = {
      model = local.models.gptoss, image = local.images.rocm_vllm, framework = "vllm", precision = "fp4", runner = "mi355x"
      seqs = {
        "1k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 4, conc = [4, 16] }, { tp = 8, conc = [4, 16] }]
        "1k8k" = [{ tp = 1, conc = [4, 64] }, { tp = 4, conc = [4, 16] }, { tp = 8, conc = [4, 16] }]
        "8k1k" = [{ tp = 1, conc = [4, 64] }, { tp = 4, conc = [4, 16] }, { tp = 8, conc = [4, 16] }]
      }
    }
  }
}

# InferenceMAX's client: request lengths drawn from [0.8, 1] x isl/osl,
# 10 x conc prompts after 2 x conc warmups, and InferenceX's percentiles
# (p90, p99, p99.9) next to the medians.
client {
  range_ratio      = 0.8
  prompts_per_conc = 10
  warmups_per_conc = 2
  percentiles      = [90, 99, 99.9]
}

settings {
  retries = 2
  timeouts {
    server_start = "20m" # DeepSeek-R1 loads 671B parameters
    benchmark    = "90m" # 1k8k at conc 256: 2560 requests of 8192 tokens
    job          = "2h"
  }
}

dynamic "config" {
  for_each = local.configs
  labels   = [config.key]
  content {
    image        = config.value.image
    model        = config.value.model
    model_prefix = split("-", config.key)[0]
    precision    = config.value.precision
    framework    = config.value.framework
    runner       = config.value.runner

    dynamic "scenario" {
      for_each = local.seqs
      labels   = [scenario.key]
      content {
        isl = scenario.value.isl
        osl = scenario.value.osl

        dynamic "search" {
          # Each band clipped to [var.conc_start, var.conc_end]; a band
          # clipped to nothing drops out.
          for_each = [
            for b in config.value.seqs[scenario.key] : merge({ ep = 1, dp_attn = false }, b, {
              conc_start = max(b.conc[0], var.conc_start)
              conc_end   = min(b.conc[1], var.conc_end)
            }) if max(b.conc[0], var.conc_start) <= min(b.conc[1], var.conc_end)
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
