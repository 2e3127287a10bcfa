# shellcheck shell=bash
# exitcodes.sh: the exit codes of a job, one variable per code.
# Generated from internal/jobspec (go generate ./internal/jobspec); do not edit.
# shellcheck disable=SC2034
FLEET_EXIT_OK=0 # done
FLEET_EXIT_CLIENT_ERROR=1 # the benchmark client failed
FLEET_EXIT_FAILURE_RATIO=3 # too many failed requests (client failure ratio over its limit; the result is still written)
FLEET_EXIT_SERVER_EXITED=10 # server exited before it became healthy
FLEET_EXIT_HEALTH_TIMEOUT=11 # server did not become healthy in time
FLEET_EXIT_BENCH_TIMEOUT=12 # benchmark timed out
FLEET_EXIT_SERVER_DIED=13 # server died during the benchmark
FLEET_EXIT_BAD_ENV=14 # job rejected its job file or environment (or no launcher for the framework)
FLEET_EXIT_GPUS_BUSY=15 # the GPUs were busy (another process held them)
FLEET_EXIT_DOWNLOAD=16 # model download failed
FLEET_EXIT_IMAGE_IMPORT=17 # container image import failed (Slurm with pyxis: enroot import)
FLEET_EXIT_PORT_CLASH=18 # the server could not listen on its port (address already in use)
FLEET_EXIT_SCRIPT_FAILED=19 # the InferenceX benchmark script failed
FLEET_EXIT_NO_RESULT=20 # the InferenceX benchmark script ended without its result file
FLEET_EXIT_NODE_LOST=21 # a node of the multi-node job stopped answering
FLEET_EXIT_EVAL_FAILED=22 # an accuracy eval scored under its threshold, or could not be run
