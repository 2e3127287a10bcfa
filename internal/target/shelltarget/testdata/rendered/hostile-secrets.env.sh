# shellcheck shell=sh
export HF_TOKEN='hf_'\''$(x)`y`'
