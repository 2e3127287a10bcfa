# shellcheck shell=sh
export MODEL=meta-llama/Llama-3.1-70B
export TP=8
